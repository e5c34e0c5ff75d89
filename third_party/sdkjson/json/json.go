// Package json stands in for github.com/segmentio/encoding/json inside the
// MCP SDK (see ../README.md): the one part of it the SDK uses, a Decoder
// that matches struct fields case-sensitively, built on
// github.com/go-json-experiment/json (encoding/json/v2).
package json

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// A Decoder reads JSON values from a stream, one per Decode.
type Decoder struct {
	r    io.Reader
	dec  *jsontext.Decoder
	opts jsonv2.Options
	done bool // the input held one value, decoded: what follows is io.EOF
}

// NewDecoder returns a Decoder reading from r.
func NewDecoder(r io.Reader) *Decoder { return &Decoder{r: r} }

var (
	foldingNames = jsonv1.DefaultOptionsV1()
	exactNames   = jsonv2.JoinOptions(jsonv1.DefaultOptionsV1(), jsonv2.MatchCaseInsensitiveNames(false))
)

// DontMatchCaseInsensitiveStructFields makes object names match struct
// fields only when they are equal byte for byte.
func (d *Decoder) DontMatchCaseInsensitiveStructFields() { d.opts = exactNames }

// decoders are the jsontext decoders of inputs that held one value, reused:
// a new one costs more than decoding a small JSON-RPC message.
var decoders = sync.Pool{New: func() any { return jsontext.NewDecoder(nothing) }}

// nothing is what a pooled decoder reads: it holds on to no input.
var nothing = strings.NewReader("")

// Decode reads the next JSON value and stores it in v, as encoding/json's
// Decoder.Decode does; what follows the value is left for the next call.
func (d *Decoder) Decode(v any) error {
	if d.opts == nil {
		d.opts = foldingNames
	}
	if d.done {
		return io.EOF
	}
	if d.dec != nil {
		return jsonv2.UnmarshalDecode(d.dec, v, d.opts)
	}
	var buf []byte
	switch r := d.r.(type) {
	case *bytes.Reader, *strings.Reader:
		// Bytes already in memory (the SDK's Unmarshal reads a
		// bytes.Reader) are parsed in place: one copy of exactly their
		// size, no read buffer, and a pooled decoder when they hold
		// one value, as they do for the SDK.
		lr := r.(interface {
			io.Reader
			Len() int
		})
		buf = make([]byte, lr.Len())
		if _, err := io.ReadFull(lr, buf); err != nil {
			return err
		}
	default:
		d.dec = jsontext.NewDecoder(d.r, d.opts)
		return jsonv2.UnmarshalDecode(d.dec, v, d.opts)
	}
	dec := decoders.Get().(*jsontext.Decoder)
	dec.Reset(bytes.NewBuffer(buf), d.opts)
	err := jsonv2.UnmarshalDecode(dec, v, d.opts)
	var syntax *jsonv1.SyntaxError
	if len(bytes.TrimLeft(buf[dec.InputOffset():], " \t\r\n")) == 0 && !errors.As(err, &syntax) {
		// The one value is read: decoded, or refused for its type
		// (read past, as encoding/json does). Nothing more comes, and
		// the decoder goes back to the pool. The SDK's readBatch tries
		// every message as a batch first, refused for its type, so this
		// is half of all decodes.
		d.done = true
		dec.Reset(nothing)
		decoders.Put(dec)
		return err
	}
	d.dec = dec // more to read, or malformed: this Decoder keeps it
	return err
}
