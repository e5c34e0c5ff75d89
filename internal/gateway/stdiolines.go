package gateway

// Design note: bounded messages of stdio upstreams.
//
// The SDK reads a stdio upstream's output one JSON-RPC message a line,
// each up to 16 MiB, and a longer one fails its whole connection: every
// call then running on that process failed with it, other people's too,
// and the process was started again. So the gateway reads the output
// first (stdioLines), one message at a time, and passes on each message
// within maxUpstreamBody whole. One past it is never passed on: read
// through to its end and thrown away, it is stood in for by a JSON-RPC
// error answering the request it answered (the "id" found while it is
// read), as an HTTP upstream's answer past the bound is (upstreambody.go),
// so that only that call fails and its caller is told why. A request of
// the upstream's past it (an elicitation, a sampling request) is answered
// back to the upstream with an error (refuse), which would otherwise wait
// for its answer until its own timeout; a notification past it is dropped
// with a warning.
//
// A message ends at its line feed, as MCP's stdio transport has it, or,
// for a program that writes no line feed after it (which the SDK's reader
// takes), where its JSON value ends once nothing more is there to read.
//
// Programs print other lines on their stdout too: a banner ("Server
// started"), a library's log line, an empty line. The SDK's decoder fails
// the whole connection on any of them, as above. So a line is passed on
// only when it may be a message: its first byte past blanks (space, tab,
// carriage return) is '{' or '['. Any other line is skipped as it is read,
// never gathered, and logged (stray, at warn, cut short and paced as the
// upstream's stderr is: logWriter); a blank line is skipped unlogged. A
// whole line beginning with '{' or '[' (gathered within the bound as a
// message is) is skipped the same way when its JSON value does not end on
// it ("{oops": passed on, the decoder would take the next line for the
// rest of it), is followed by more than blanks ("[INFO] ready", which the
// decoder fails on), is not valid JSON after all ({"jsonrpc" 1}: the scan
// that finds where a value ends does not check the rest), or is valid
// JSON but no message the SDK decodes: an object without a "jsonrpc"
// member (a JSON logger's record, {"level":30,"msg":"ready"}), or with
// neither a method nor an ID ({"jsonrpc":"2.0"}, a response without its
// ID), or with one the SDK does not take (an ID that is null or an
// object, a method that is no string, an error that is no error object,
// a version other than "2.0"); an array that is no batch of such
// messages ("[2025-01-02 10:00]", [{"level":30}], an empty one). The SDK
// fails the connection on each of these as on a line that is no JSON.
// Which is which is the SDK's own decoding (jsonrpc.DecodeMessage), run
// once more on a line the scan has not ruled out already: an object
// without "jsonrpc", or with neither "method" nor "id".
//
// Batches: MCP 2025-06-18 took JSON-RPC batching out, but an upstream
// may speak an older version, and the SDK's stdio client still reads a
// batch whatever the version (the version check in its reader is on the
// server's side only). So a batch is passed on when every element is a
// message the SDK decodes, as it would be read; one that is not would
// fail the connection, and is skipped.
// The decoder is only ever given whole lines: framing stays by line, and
// a message written over several lines (pretty-printed), which MCP's
// stdio transport forbids, is skipped line by line.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// stdioLines reads a stdio upstream's output for the SDK: each Read
// gives bytes of one message at most, so that the SDK's own bound of a
// message never counts the next one's bytes.
type stdioLines struct {
	r       *bufio.Reader
	limit   int
	line    []byte // the message being gathered
	out     []byte // what is ready to pass on
	err     error  // the output's, once out is empty
	scan    jsonScan
	scanned int // how much of line scan has seen
	// dropped is told of each message past limit: whether it was
	// answered with an error (it answered a request, or was one) or
	// dropped.
	dropped func(answered bool)
	// refuse answers the upstream's request id, past limit, with an
	// error; nil: it is dropped.
	refuse func(id jsonrpc.ID)
	// stray is given the start (up to maxStrayLine bytes, without its
	// line feed) of each line skipped as no message; nil: not told.
	stray func(line []byte)
}

// maxStrayLine is how much of a skipped line stray is given: what
// logWriter logs of a line, and a rune it may cut.
const maxStrayLine = maxStderrLine + utf8.UTFMax

func newStdioLines(r io.Reader, limit int, dropped func(answered bool)) *stdioLines {
	return &stdioLines{r: bufio.NewReaderSize(r, 64<<10), limit: limit, dropped: dropped}
}

func (s *stdioLines) Read(p []byte) (int, error) {
	for len(s.out) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		s.next()
	}
	n := copy(p, s.out)
	s.out = s.out[n:]
	return n, nil
}

// next gathers the next message into out, or the error answer standing
// in for it, skipping the lines that are no message.
func (s *stdioLines) next() {
	if cap(s.line) > 1<<20 {
		s.line = nil // a large message's buffer is not kept for the small ones
	}
	for s.err == nil && len(s.out) == 0 {
		s.line, s.scanned, s.scan = s.line[:0], 0, jsonScan{}
		if s.start() {
			s.gather()
		}
	}
}

// start reads up to the first byte of the next line that may begin a
// message ('{' or '['), skipping blanks, blank lines and the other lines;
// false: the output ended (err).
func (s *stdioLines) start() bool {
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			s.err = err
			return false
		}
		switch c {
		case ' ', '\t', '\r', '\n':
		case '{', '[':
			s.r.UnreadByte()
			return true
		default:
			s.r.UnreadByte()
			s.skipLine()
			if s.err != nil {
				return false
			}
		}
	}
}

// skipLine reads through the line begun, keeping only its start for stray.
func (s *stdioLines) skipLine() {
	var kept []byte
	for {
		b, err := s.r.ReadSlice('\n')
		if len(kept) < maxStrayLine {
			kept = append(kept, b[:min(len(b), maxStrayLine-len(kept))]...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		s.err = err
		break
	}
	s.tellStray(kept)
}

func (s *stdioLines) tellStray(line []byte) {
	line = bytes.TrimRight(line[:min(len(line), maxStrayLine)], "\r\n")
	if s.stray != nil && len(line) > 0 {
		s.stray(line)
	}
}

// gather reads the line begun into line and passes it on (out) when it is
// a message.
func (s *stdioLines) gather() {
	for {
		if s.r.Buffered() == 0 {
			// About to wait for the program: a message it wrote whole
			// but for the line feed is passed on now.
			s.scanned += s.scan.feed(s.line[s.scanned:])
			if s.message() {
				s.passOn()
				return
			}
			if _, err := s.r.Peek(1); err != nil {
				s.passOn()
				s.err = err
				return
			}
		}
		b, _ := s.r.Peek(s.r.Buffered())
		i := bytes.IndexByte(b, '\n')
		if i >= 0 {
			b = b[:i+1]
		}
		if len(s.line)+len(b) > s.limit {
			s.out = s.skip()
			return
		}
		s.line = append(s.line, b...)
		s.r.Discard(len(b))
		if i >= 0 {
			s.scanned += s.scan.feed(s.line[s.scanned:])
			s.passOn()
			return
		}
	}
}

// passOn passes on the line gathered if it may be a message, and skips
// it otherwise.
func (s *stdioLines) passOn() {
	if !s.message() {
		s.tellStray(s.line)
		return
	}
	// Without the blanks after the value, which the SDK's decoder fails on.
	ended := bytes.HasSuffix(s.line, []byte{'\n'})
	s.out = s.line[:s.scanned]
	if ended {
		s.out = append(s.out, '\n')
	}
}

// message reports whether the line gathered (and scanned) is a message
// the SDK reads: its JSON value ends on it, followed by blanks only, and
// is a request, notification or response, or a batch of them.
func (s *stdioLines) message() bool {
	if !s.scan.done || len(bytes.TrimLeft(s.line[s.scanned:], " \t\r\n")) > 0 {
		return false
	}
	v := s.line[:s.scanned]
	// The scan finds where a value ends, not whether it is JSON: a line
	// it ends that is not ({"jsonrpc" 1}, [{""}]) fails the connection in
	// the SDK's decoder as a line of text does.
	if s.line[0] == '[' {
		return json.Valid(v) && decodableBatch(v)
	}
	// What the scan saw rules out most lines at no cost: a message has a
	// "jsonrpc" member, and a method or an ID.
	if !s.scan.jsonrpc || !s.scan.method && !s.scan.hasID {
		return false
	}
	// The rest (the version "2.0", an ID that is a string or a number, a
	// method that is a string, an error that is one) the SDK's own
	// decoding tells, as its read loop will.
	if !json.Valid(v) {
		return false
	}
	_, err := jsonrpc.DecodeMessage(v)
	return err == nil
}

// decodableBatch reports whether v, an array, is a batch the SDK reads:
// not empty, and each of its elements a message.
func decodableBatch(v []byte) bool {
	var batch []json.RawMessage
	if json.Unmarshal(v, &batch) != nil || len(batch) == 0 {
		return false
	}
	for _, m := range batch {
		if _, err := jsonrpc.DecodeMessage(m); err != nil {
			return false
		}
	}
	return true
}

// skip reads the rest of a message past the limit, and returns the error
// answer to stand in for it (nil: none).
func (s *stdioLines) skip() []byte {
	s.scan.feed(s.line[s.scanned:])
	s.line = nil
	for !s.scan.done {
		if s.r.Buffered() == 0 {
			if _, err := s.r.Peek(1); err != nil {
				s.err = err
				break
			}
		}
		b, _ := s.r.Peek(s.r.Buffered())
		i := bytes.IndexByte(b, '\n')
		if i >= 0 {
			b = b[:i+1]
		}
		n := s.scan.feed(b)
		s.r.Discard(n)
		if i >= 0 && n == len(b) {
			break
		}
	}
	answer := s.scan.errorAnswer()
	refused := false
	if id, ok := s.scan.requestID(); ok && s.refuse != nil {
		s.refuse(id)
		refused = true
	}
	if s.dropped != nil {
		s.dropped(answer != nil || refused)
	}
	return answer
}

// jsonScan follows a JSON text byte by byte, keeping no more of it than
// a JSON-RPC ID: where its top-level value ends, and, of that value's
// members, the raw value of "id" and whether there is a "method".
type jsonScan struct {
	depth      int
	inStr, esc bool
	done       bool // the top-level value has ended
	wantKey    bool // the next string at depth 1 is a member name
	readingKey bool
	key        []byte // the depth-1 member name last read, raw (see maxKeyLen)
	capturing  bool   // reading the value of "id"
	id         []byte
	hasID      bool // id is all of that value
	method     bool
	jsonrpc    bool // there is a "jsonrpc" member
}

// maxIDLen bounds the ID a message past the limit may be answered with.
const maxIDLen = 256

// maxKeyLen bounds the raw member name kept: "method" with every letter
// escaped (\u006d…) is 36 bytes. A longer name is kept one byte longer,
// which neither looked-for name can be.
const maxKeyLen = 48

// feed scans b, up to the end of the top-level value, and returns how
// many bytes it took.
func (s *jsonScan) feed(b []byte) int {
	if s.done {
		return 0
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if s.inStr && !s.esc && !s.capturing && !s.readingKey {
			// Most of a large message is the inside of its strings:
			// passed over to the next quote or backslash at once.
			j := stringSpan(b[i:])
			if j < 0 {
				return len(b)
			}
			i += j
			c = b[i]
		}
		if s.inStr {
			if s.capturing {
				s.capture(c)
			}
			switch {
			case s.esc:
				s.esc = false
			case c == '\\':
				s.esc = true
			case c == '"':
				s.inStr = false
				s.readingKey = false
				continue
			}
			s.keyByte(c)
			continue
		}
		switch c {
		case '"':
			s.inStr = true
			if s.depth == 1 && s.wantKey {
				s.readingKey, s.wantKey, s.key = true, false, s.key[:0]
			} else if s.capturing {
				s.capture(c)
			}
		case '{', '[':
			s.depth++
			if s.depth == 1 {
				s.wantKey = c == '{'
			}
			if s.capturing {
				s.capturing, s.id = false, nil // an ID is a string or a number
			}
		case '}', ']':
			if s.depth == 1 {
				s.endMember()
			}
			s.depth--
			if s.depth <= 0 {
				s.done = true
				return i + 1
			}
		case ',':
			if s.depth == 1 {
				s.endMember()
				s.wantKey = true
			}
		case ':':
			if s.depth == 1 {
				name := s.key
				if bytes.IndexByte(name, '\\') >= 0 {
					// Escaped ("\u0069d"), the name is still the one
					// the SDK decodes.
					name = unescapeName(name)
				}
				switch string(name) {
				case "id":
					s.capturing, s.id, s.hasID = true, s.id[:0], false
				case "method":
					s.method = true
				case "jsonrpc":
					s.jsonrpc = true
				}
			}
		default:
			if s.capturing {
				s.capture(c)
			}
		}
	}
	return len(b)
}

// stringSpan is the index in b of the first quote or backslash, -1 when
// there is none.
func stringSpan(b []byte) int {
	q := bytes.IndexByte(b, '"')
	span := b
	if q >= 0 {
		span = b[:q]
	}
	if e := bytes.IndexByte(span, '\\'); e >= 0 {
		return e
	}
	return q
}

func (s *jsonScan) keyByte(c byte) {
	if s.readingKey && len(s.key) <= maxKeyLen {
		s.key = append(s.key, c)
	}
}

// unescapeName decodes the raw member name key as a JSON decoder does;
// nil when it is too long to be a name looked for, or not valid.
func unescapeName(key []byte) []byte {
	var name string
	if len(key) > maxKeyLen || json.Unmarshal(append(append([]byte{'"'}, key...), '"'), &name) != nil {
		return nil
	}
	return []byte(name)
}

func (s *jsonScan) capture(c byte) {
	if len(s.id) < maxIDLen {
		s.id = append(s.id, c)
	} else {
		s.capturing, s.id = false, nil
	}
}

func (s *jsonScan) endMember() {
	if s.capturing {
		s.capturing, s.hasID = false, s.id != nil
	}
}

// errorAnswer is the error response to the request a message past the
// limit answered, or nil when it answered none (it has a method, or no ID
// that is one).
func (s *jsonScan) errorAnswer() []byte {
	if s.method {
		return nil
	}
	id, ok := s.validID()
	if !ok {
		return nil
	}
	out, err := jsonrpc.EncodeMessage(&jsonrpc.Response{ID: id,
		Error: &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "gatehouse: " + errAnswerTooLarge.Error()}})
	if err != nil {
		return nil
	}
	return append(out, '\n')
}

// requestID is the ID of a request (a message with a method and an ID).
func (s *jsonScan) requestID() (jsonrpc.ID, bool) {
	if !s.method {
		return jsonrpc.ID{}, false
	}
	return s.validID()
}

// validID decodes the "id" found, as the SDK would: a string or a number.
func (s *jsonScan) validID() (jsonrpc.ID, bool) {
	if !s.hasID {
		return jsonrpc.ID{}, false
	}
	raw := append(append([]byte(`{"jsonrpc":"2.0","id":`), bytes.TrimSpace(s.id)...), `,"result":{}}`...)
	msg, err := jsonrpc.DecodeMessage(raw)
	resp, ok := msg.(*jsonrpc.Response)
	if err != nil || !ok || !resp.ID.IsValid() {
		return jsonrpc.ID{}, false
	}
	return resp.ID, true
}
