package config

import (
	"bytes"
	"sync"

	"go.yaml.in/yaml/v3"
)

// yaml.v3 builds the node tree of a whole document before it returns any
// of it, and for the benchmark's config the tree takes about 2 KB a secret.
// So that a long secrets list is never in memory as one tree, Parse first
// tries to cut the list out of the text and decode it in pieces of whole
// items. The rest of the file is parsed with the list's lines left blank,
// so that every line keeps its number. Each piece is parsed on its own,
// and its lines are shifted to their place in the file.
//
// The cut is made only where the layout makes it safe. That is a block list
// under a "secrets:" line at column 1, with items that start with "- " at
// one indent. The file may have no document markers or directives, and the
// list no tabs in its indentation, no lines of more than maxSplitLine bytes
// and no line breaks other than \n. An item line at that indent cannot be inside a block scalar or a plain
// scalar of an earlier item, whose lines are indented further. It can be
// inside a quoted scalar or a flow collection, but then the piece before
// it ends inside that scalar or collection and fails to parse. An alias to
// an anchor outside its piece fails to parse too, and an alias after the
// list, which might name an anchor inside it, is not accepted. When any
// part fails, or the rest of the file does not have the "secrets:" key
// where the cut expects it, Parse decodes the whole file in one tree
// instead. Either way the load returns the same config and problems, and
// split_test.go compares the two.

// splitPieceSize is the number of bytes of list text after which a piece
// ends at the next item. The tree of the benchmark's config takes about 20
// times the size of its text, so a piece of 16 KiB makes about 330 KB, and
// a list of 1,000 secrets makes enough pieces to keep two goroutines
// parsing. It is a variable so that tests can cut small files into several
// pieces.
var splitPieceSize = 16 << 10

// maxSplitLine bounds the lines of a list that is cut. yaml.v3 rejects
// more than 10,000 levels of indentation (max_indents in v3.0.6), and a
// piece has one level fewer than the whole file. Each level starts at a
// greater column, so lines of at most 8 KiB cannot reach that depth and
// both parse alike.
const maxSplitLine = 8 << 10

// listSplit is a secrets list cut out of the file's text.
type listSplit struct {
	keyLine int      // 1-based line of the "secrets:" key
	at      Position // the first item's "-", where the list's node starts
	// start is the byte offset of the list's first item line in the text,
	// and end the offset of the line after the list.
	start, end int
	endLine    int // 1-based line of end
	items      int // the number of item lines
	pieces     []listPiece
	decoded    bool // decodeSplitSecrets has run
}

// listPiece is a run of whole items of the list.
type listPiece struct {
	start, end int // byte offsets in the text
	line       int // 1-based line of start
}

// splitSecretsList finds a secrets list that can be cut and cuts it into
// pieces of about size bytes. It returns false when the file's layout is
// not one that it can cut safely.
func splitSecretsList(text []byte, size int) (listSplit, bool) {
	var s listSplit
	if !splittableText(text) {
		return s, false
	}
	const (
		beforeList = iota
		beforeFirstItem
		inList
		afterList
	)
	state := beforeList
	indent := 0
	pieceStart, pieceLine := 0, 0
	lineNo := 0
	for start := 0; start < len(text); {
		end := bytes.IndexByte(text[start:], '\n')
		next := len(text)
		if end < 0 {
			end = len(text)
		} else {
			end += start
			next = end + 1
		}
		line := text[start:end]
		lineNo++
		if isDocumentMarker(line) {
			return s, false
		}
		switch state {
		case beforeList:
			if isSecretsKey(line) {
				s.keyLine = lineNo
				state = beforeFirstItem
			}
		case beforeFirstItem:
			if isBlankOrComment(line) {
				break
			}
			n := leadingSpaces(line)
			if !isItem(line[n:]) || !isPlainListLine(line) {
				return s, false
			}
			indent = n
			s.at = Position{Line: lineNo, Column: n + 1}
			s.start, s.items = start, 1
			pieceStart, pieceLine = start, lineNo
			state = inList
		case inList:
			if !isPlainListLine(line) {
				return s, false
			}
			n := leadingSpaces(line)
			if isBlankOrComment(line) || n > indent {
				break
			}
			if n < indent || !isItem(line[n:]) {
				s.pieces = append(s.pieces, listPiece{start: pieceStart, end: start, line: pieceLine})
				s.end, s.endLine = start, lineNo
				state = afterList
				break
			}
			s.items++
			if start-pieceStart >= size {
				s.pieces = append(s.pieces, listPiece{start: pieceStart, end: start, line: pieceLine})
				pieceStart, pieceLine = start, lineNo
			}
		}
		start = next
	}
	switch state {
	case inList:
		s.pieces = append(s.pieces, listPiece{start: pieceStart, end: len(text), line: pieceLine})
		s.end, s.endLine = len(text), lineNo+1
	case afterList:
	default:
		return s, false
	}
	return s, true
}

// splittableText reports whether text has no byte order mark, NUL or CR,
// and none of the line breaks NEL, LS and PS, which YAML counts as line
// breaks too. Lines then end only at \n, so line numbers can be counted.
func splittableText(text []byte) bool {
	if bytes.HasPrefix(text, []byte("\xef\xbb\xbf")) || bytes.IndexByte(text, 0) >= 0 || bytes.IndexByte(text, '\r') >= 0 {
		return false
	}
	for _, lineBreak := range []string{"\u0085", "\u2028", "\u2029"} {
		if bytes.Contains(text, []byte(lineBreak)) {
			return false
		}
	}
	return true
}

// isDocumentMarker reports whether line starts a directive (%) or a
// document marker (--- or ...).
func isDocumentMarker(line []byte) bool {
	return bytes.HasPrefix(line, []byte("%")) || bytes.HasPrefix(line, []byte("---")) || bytes.HasPrefix(line, []byte("..."))
}

// isSecretsKey reports whether line is "secrets:" at column 1 with no value
// after it, only spaces or a comment.
func isSecretsKey(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("secrets:"))
	if !ok {
		return false
	}
	if len(rest) == 0 {
		return true
	}
	if rest[0] != ' ' {
		return false
	}
	rest = bytes.TrimLeft(rest, " ")
	return len(rest) == 0 || rest[0] == '#'
}

// isItem reports whether text, a line without its indentation, starts a
// block list item: "-" alone or followed by a space.
func isItem(text []byte) bool {
	return bytes.Equal(text, []byte("-")) || bytes.HasPrefix(text, []byte("- "))
}

func isBlankOrComment(line []byte) bool {
	rest := bytes.TrimLeft(line, " \t")
	return len(rest) == 0 || rest[0] == '#'
}

func leadingSpaces(line []byte) int {
	return len(line) - len(bytes.TrimLeft(line, " "))
}

// isPlainListLine reports whether a line of the list is at most
// maxSplitLine bytes long and has no tab in its indentation.
func isPlainListLine(line []byte) bool {
	indentation := line[:len(line)-len(bytes.TrimLeft(line, " \t"))]
	return len(line) <= maxSplitLine && bytes.IndexByte(indentation, '\t') < 0
}

// skeleton returns text with the list's lines made blank.
func (s listSplit) skeleton(text []byte) []byte {
	lines := bytes.Count(text[s.start:s.end], []byte("\n"))
	out := make([]byte, 0, s.start+lines+len(text)-s.end)
	out = append(out, text[:s.start]...)
	out = append(out, bytes.Repeat([]byte("\n"), lines)...)
	return append(out, text[s.end:]...)
}

// decodeSplit decodes the file with its secrets list in pieces, as the
// comment at the top of this file describes. It returns false when the
// file cannot be cut, a part fails to parse, or the cut list is never
// decoded, as when an earlier key is also named secrets, because the
// pieces are parsed only as they are decoded. The decoder must then be
// discarded, since it may hold problems of a part.
func (d *decoder) decodeSplit() (rawConfig, bool) {
	split, ok := splitSecretsList(d.text, splitPieceSize)
	if !ok {
		return rawConfig{}, false
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(split.skeleton(d.text)))
	if err := dec.Decode(&doc); err != nil || len(doc.Content) == 0 {
		return rawConfig{}, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return rawConfig{}, false
	}
	root := doc.Content[0]
	if !split.keyIn(root) || hasAliasFrom(root, split.endLine) {
		return rawConfig{}, false
	}
	d.split = &split
	raw := d.decodeTop(root)
	d.split = nil
	return raw, split.decoded && !d.splitFailed
}

// keyIn reports whether root, the skeleton's top mapping, is a block
// mapping with the secrets key on the line where the list was cut, and
// the empty value that the blank lines leave. In a flow mapping the list
// would not be a block list.
func (s listSplit) keyIn(root *yaml.Node) bool {
	if root.Kind != yaml.MappingNode || root.Style&yaml.FlowStyle != 0 {
		return false
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Line == s.keyLine && k.Column == 1 {
			return k.Value == "secrets" && k.Style == 0 && v.Kind == yaml.ScalarNode && isNull(v) && v.Value == ""
		}
	}
	return false
}

// hasAliasFrom reports whether n or a node below it is an alias on line
// or after it.
func hasAliasFrom(n *yaml.Node, line int) bool {
	if n.Kind == yaml.AliasNode && n.Line >= line {
		return true
	}
	for _, c := range n.Content {
		if hasAliasFrom(c, line) {
			return true
		}
	}
	return false
}

// isSplitKey reports whether k is the secrets key whose list was cut out.
func (d *decoder) isSplitKey(k *yaml.Node) bool {
	return d.split != nil && k.Line == d.split.keyLine && k.Column == 1
}

// decodeSplitSecrets decodes each piece of the cut list in turn, while
// parsePieces parses the next pieces on other goroutines. It sets
// splitFailed when a piece does not parse as a list.
func (d *decoder) decodeSplitSecrets() []*rawSecret {
	d.split.decoded = true
	out := make([]*rawSecret, 0, d.split.items)
	parsed := parsePieces(d.text, d.split.pieces)
	defer parsed.stop()
	for range d.split.pieces {
		list := parsed.next()
		if list == nil {
			d.splitFailed = true
			return nil
		}
		out = d.decodeSecretItems(list, out)
	}
	return out
}

// Parsing YAML takes about half the time of loading a long config, and the
// pieces parse independently, so they are parsed ahead of the decoder on
// up to parseWorkers goroutines. At most parseAhead parsed pieces wait to
// be decoded, which bounds the trees in memory.
const (
	parseWorkers = 2
	parseAhead   = 4
)

// pieceParser parses the pieces of a cut list in parallel and hands their
// lists out in order.
type pieceParser struct {
	results   []chan *yaml.Node // one per piece, each with room for its list
	slots     chan struct{}     // a token for each piece being parsed or waiting for next
	done      chan struct{}     // closed by stop
	handedOut int               // pieces handed out by next
	workers   sync.WaitGroup    // ends when every worker has returned
}

// parsePieces starts parsing pieces of text. The caller takes each piece's
// list with next, in order, and must call stop when it is done.
func parsePieces(text []byte, pieces []listPiece) *pieceParser {
	p := &pieceParser{
		results: make([]chan *yaml.Node, len(pieces)),
		slots:   make(chan struct{}, parseAhead),
		done:    make(chan struct{}),
	}
	for i := range p.results {
		p.results[i] = make(chan *yaml.Node, 1)
	}
	work := make(chan int, len(pieces))
	for i := range pieces {
		work <- i
	}
	close(work)
	for range min(parseWorkers, len(pieces)) {
		p.workers.Go(func() {
			for {
				// The slot is taken before the piece, so the pieces with a
				// slot are always the next ones that next waits for.
				select {
				case p.slots <- struct{}{}:
				case <-p.done:
					return
				}
				i, ok := <-work
				if !ok {
					<-p.slots
					return
				}
				p.results[i] <- parsePiece(text, pieces[i])
			}
		})
	}
	return p
}

// next returns the list of the next piece, or nil when that piece does
// not parse as a list.
func (p *pieceParser) next() *yaml.Node {
	list := <-p.results[p.handedOut]
	p.handedOut++
	<-p.slots
	return list
}

// stop ends the parsing of pieces that have not started. A piece being
// parsed finishes, and its list is dropped.
func (p *pieceParser) stop() {
	close(p.done)
}

// parsePiece parses one piece and returns its list, with the lines of its
// nodes shifted to their place in the file, or nil when the piece is not a
// list on its own.
func parsePiece(text []byte, piece listPiece) *yaml.Node {
	var doc yaml.Node
	err := yaml.Unmarshal(text[piece.start:piece.end], &doc)
	if err != nil || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.SequenceNode {
		return nil
	}
	shiftLines(&doc, piece.line-1)
	return doc.Content[0]
}

// shiftLines adds by to the line of n and of every node below it.
func shiftLines(n *yaml.Node, by int) {
	n.Line += by
	for _, c := range n.Content {
		shiftLines(c, by)
	}
}
