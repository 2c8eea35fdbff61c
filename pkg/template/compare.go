package template

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
)

// The comparison helpers replace text/template's builtins for two reasons.
// The builtin eq prints both values when they are not comparable, and the
// builtins compare json.Number values as text, so "10" < "9" would be true.

// comparisonPrecision is the mantissa size in bits used to compare numbers
// that do not fit in an int64. 256 bits keep integers of up to 77 decimal
// digits exact.
const comparisonPrecision = 256

type valueClass int

const (
	classOther valueClass = iota
	classNumber
	classString
	classBool
)

func classify(value any) valueClass {
	if _, ok := value.(json.Number); ok {
		return classNumber
	}
	switch reflect.ValueOf(value).Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return classNumber
	case reflect.String:
		return classString
	case reflect.Bool:
		return classBool
	}
	return classOther
}

// eq reports whether first equals any of others.
func eq(first any, others ...any) (bool, error) {
	if len(others) == 0 {
		return false, errors.New("missing argument for comparison")
	}
	for _, other := range others {
		equal, err := equalValues(first, other)
		if err != nil {
			return false, err
		}
		if equal {
			return true, nil
		}
	}
	return false, nil
}

func ne(a, b any) (bool, error) {
	equal, err := equalValues(a, b)
	return !equal, err
}

func lt(a, b any) (bool, error) {
	order, err := orderValues(a, b)
	return order < 0, err
}

func le(a, b any) (bool, error) {
	order, err := orderValues(a, b)
	return order <= 0, err
}

func gt(a, b any) (bool, error) {
	order, err := orderValues(a, b)
	return order > 0, err
}

func ge(a, b any) (bool, error) {
	order, err := orderValues(a, b)
	return order >= 0, err
}

// equalValues compares numbers by value, strings and booleans directly, and a
// json.Number with a string by text. null equals only null. Objects and lists
// are not comparable.
func equalValues(a, b any) (bool, error) {
	if a == nil || b == nil {
		return a == nil && b == nil, nil
	}

	classA, classB := classify(a), classify(b)
	switch {
	case classA == classOther || classB == classOther:
		return false, comparisonError("comparable", a, b)
	case classA == classNumber && classB == classNumber:
		order, err := compareNumbers(a, b)
		return order == 0, err
	case classA == classString && classB == classString,
		classA == classNumber && classB == classString,
		classA == classString && classB == classNumber:
		textA, errA := stringArg(a)
		textB, errB := stringArg(b)
		if errA != nil || errB != nil {
			return false, comparisonError("comparable", a, b)
		}
		return textA == textB, nil
	case classA == classBool && classB == classBool:
		return reflect.ValueOf(a).Bool() == reflect.ValueOf(b).Bool(), nil
	}
	return false, comparisonError("comparable", a, b)
}

// orderValues returns -1, 0 or +1 for two numbers or two strings.
func orderValues(a, b any) (int, error) {
	classA, classB := classify(a), classify(b)
	switch {
	case classA == classNumber && classB == classNumber:
		return compareNumbers(a, b)
	case classA == classString && classB == classString:
		return cmp.Compare(reflect.ValueOf(a).String(), reflect.ValueOf(b).String()), nil
	}
	return 0, comparisonError("ordered", a, b)
}

// comparisonError names the JSON types of a and b, never their values.
// property is "comparable" or "ordered".
func comparisonError(property string, a, b any) error {
	typeA, typeB := typeName(a), typeName(b)
	if typeA == typeB {
		return fmt.Errorf("values of type %s are not %s", typeA, property)
	}
	return fmt.Errorf("incompatible types for comparison: %s and %s", typeA, typeB)
}

func compareNumbers(a, b any) (int, error) {
	if x, ok := int64Value(a); ok {
		if y, ok := int64Value(b); ok {
			return cmp.Compare(x, y), nil
		}
	}

	x, err := bigFloatValue(a)
	if err != nil {
		return 0, err
	}
	y, err := bigFloatValue(b)
	if err != nil {
		return 0, err
	}
	return x.Cmp(y), nil
}

func int64Value(value any) (int64, bool) {
	if number, ok := value.(json.Number); ok {
		n, err := strconv.ParseInt(string(number), 10, 64)
		return n, err == nil
	}

	rv := reflect.ValueOf(value)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if rv.Uint() <= math.MaxInt64 {
			return int64(rv.Uint()), true
		}
	}
	return 0, false
}

func bigFloatValue(value any) (*big.Float, error) {
	result := new(big.Float).SetPrec(comparisonPrecision)
	if number, ok := value.(json.Number); ok {
		if _, ok := result.SetString(string(number)); !ok {
			return nil, errors.New("invalid number for comparison")
		}
		return result, nil
	}

	rv := reflect.ValueOf(value)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return result.SetInt64(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return result.SetUint64(rv.Uint()), nil
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		if math.IsNaN(f) {
			return nil, errors.New("cannot compare NaN")
		}
		return result.SetFloat64(f), nil
	}
	return nil, fmt.Errorf("expected a number, got %s", typeName(value))
}
