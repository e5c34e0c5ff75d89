// Package json stands in for github.com/segmentio/encoding/json inside the
// MCP SDK (see ../README.md): the one part of it the SDK uses, a Decoder
// that matches struct fields case-sensitively, built on
// github.com/go-json-experiment/json (encoding/json/v2).
package json

import (
	"bytes"
	"io"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// A Decoder reads JSON values from a stream, one per Decode.
type Decoder struct {
	r    io.Reader
	dec  *jsontext.Decoder
	opts jsonv2.Options
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

// Decode reads the next JSON value and stores it in v, as encoding/json's
// Decoder.Decode does; what follows the value is left for the next call.
func (d *Decoder) Decode(v any) error {
	if d.opts == nil {
		d.opts = foldingNames
	}
	if d.dec == nil {
		r := d.r
		// Bytes already in memory (the SDK's Unmarshal reads a
		// bytes.Reader) are parsed in place: one copy of exactly their
		// size, no read buffer.
		switch r.(type) {
		case *bytes.Reader, *strings.Reader:
			br := r.(interface {
				io.Reader
				Len() int
			})
			buf := make([]byte, br.Len())
			if _, err := io.ReadFull(br, buf); err != nil {
				return err
			}
			r = bytes.NewBuffer(buf)
		}
		d.dec = jsontext.NewDecoder(r, d.opts)
	}
	return jsonv2.UnmarshalDecode(d.dec, v, d.opts)
}
