package engine

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"sort"
	"strings"
	"time"
)

// minDERLength is the shortest base64 text that is tried as a DER
// certificate. A real certificate takes several hundred bytes, so shorter
// fields, the common case, are not decoded at all.
const minDERLength = 200

// earliestCertificate returns the earliest NotAfter, later than now, of the
// X.509 certificates in data, with the name of the field that contains it.
// It reads top-level fields that are text or lists of text, as a PKI
// response's certificate, issuing_ca and ca_chain are. A field counts when
// it contains PEM CERTIFICATE blocks or is one certificate in base64 DER, as
// PKI returns with format der. A certificate that has expired already is
// skipped, because fetching the data again early would not help.
func earliestCertificate(data map[string]any, now time.Time) (time.Time, string, bool) {
	names := make([]string, 0, len(data))
	for name := range data {
		names = append(names, name)
	}
	sort.Strings(names)

	var earliest time.Time
	var field string
	consider := func(name string, text string) {
		for _, notAfter := range certificateEnds(text) {
			if notAfter.After(now) && (earliest.IsZero() || notAfter.Before(earliest)) {
				earliest, field = notAfter, name
			}
		}
	}
	for _, name := range names {
		switch v := data[name].(type) {
		case string:
			consider(name, v)
		case []any:
			for _, item := range v {
				if text, ok := item.(string); ok {
					consider(name, text)
				}
			}
		}
	}
	return earliest, field, !earliest.IsZero()
}

// certificateEnds returns the NotAfter of each certificate in text: every
// PEM CERTIFICATE block, or the whole text as base64 DER.
func certificateEnds(text string) []time.Time {
	var ends []time.Time
	if strings.Contains(text, "-----BEGIN CERTIFICATE-----") {
		rest := []byte(text)
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			if block.Type != "CERTIFICATE" {
				continue
			}
			if cert, err := x509.ParseCertificate(block.Bytes); err == nil {
				ends = append(ends, cert.NotAfter)
			}
		}
		return ends
	}
	if len(text) < minDERLength {
		return nil
	}
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil {
		return nil
	}
	if cert, err := x509.ParseCertificate(der); err == nil {
		ends = append(ends, cert.NotAfter)
	}
	return ends
}
