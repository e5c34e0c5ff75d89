package json

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
)

type params struct {
	Name string         `json:"name"`
	Args map[string]any `json:"arguments,omitempty"`
}

func decodeExact(t *testing.T, in string, v any) error {
	t.Helper()
	d := NewDecoder(strings.NewReader(in))
	d.DontMatchCaseInsensitiveStructFields()
	return d.Decode(v)
}

// The MCP SDK decodes with exact name matching: a key equal to "name" only
// by case or Unicode folding must not be read as the name.
func TestExactNames(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`{"name":"a"}`, "a"},
		{`{"NAME":"b"}`, ""},
		{`{"Name":"b","name":"a"}`, "a"},
		{`{"name":"a","Name":"b"}`, "a"},
		{`{"ſame":"b"}`, ""},
		{`{"name":"b","name":"a"}`, "a"},          // the last of two wins, as in encoding/json
		{`{"n\u0061me":"a"}`, "a"},                // escapes are decoded before matching
		{`{"name":"a","other":{"x":[1,2]}}`, "a"}, // unknown members are skipped
	} {
		var p params
		if err := decodeExact(t, tt.in, &p); err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		if p.Name != tt.want {
			t.Errorf("%s: name %q, want %q", tt.in, p.Name, tt.want)
		}
	}
}

// Without the option, names fold as in encoding/json.
func TestFoldingNamesByDefault(t *testing.T) {
	var p params
	if err := NewDecoder(strings.NewReader(`{"NAME":"b"}`)).Decode(&p); err != nil || p.Name != "b" {
		t.Fatalf("got %q, %v", p.Name, err)
	}
}

func TestValues(t *testing.T) {
	var p params
	if err := decodeExact(t, `{"name":"x","arguments":{"n":1.5,"s":"é","l":[true,null]}}`, &p); err != nil {
		t.Fatal(err)
	}
	if p.Args["n"] != 1.5 || p.Args["s"] != "é" {
		t.Errorf("arguments %#v", p.Args)
	}
	if l, _ := p.Args["l"].([]any); len(l) != 2 || l[0] != true || l[1] != nil {
		t.Errorf("list %#v", p.Args["l"])
	}
}

// Decode reads one value; what follows is left for the next Decode, from
// a reader of bytes in memory and from a stream alike.
func TestStream(t *testing.T) {
	for name, r := range map[string]io.Reader{
		"bytes":  strings.NewReader(`{"name":"a"} {"name":"b"}`),
		"stream": iotest.OneByteReader(strings.NewReader(`{"name":"a"} {"name":"b"}`)),
	} {
		d := NewDecoder(r)
		d.DontMatchCaseInsensitiveStructFields()
		var got []string
		for {
			var p params
			err := d.Decode(&p)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			got = append(got, p.Name)
		}
		if strings.Join(got, ",") != "a,b" {
			t.Errorf("%s: %v", name, got)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, in := range []string{``, `{`, `{"name":}`, `{"name":1}`, `[1,2`, `nul`} {
		var p params
		if err := decodeExact(t, in, &p); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

// A reader that fails passes its error on.
func TestReadError(t *testing.T) {
	boom := errors.New("boom")
	var p params
	if err := NewDecoder(iotest.ErrReader(boom)).Decode(&p); !errors.Is(err, boom) {
		t.Fatalf("got %v, want %v", err, boom)
	}
}

// One value in memory, with or without trailing space: decoded, then
// io.EOF, as a stream would say. What follows a value that is not space is
// left for the next Decode, which reports it.
func TestOneValueInMemory(t *testing.T) {
	for _, in := range []string{`{"name":"a"}`, "{\"name\":\"a\"}\r\n\t "} {
		d := NewDecoder(bytes.NewReader([]byte(in)))
		var p params
		if err := d.Decode(&p); err != nil || p.Name != "a" {
			t.Fatalf("%q: %q, %v", in, p.Name, err)
		}
		if err := d.Decode(&p); err != io.EOF {
			t.Errorf("%q: second Decode = %v, want io.EOF", in, err)
		}
	}
	d := NewDecoder(bytes.NewReader([]byte(`{"name":"a"} x`)))
	var p params
	if err := d.Decode(&p); err != nil || p.Name != "a" {
		t.Fatalf("%q, %v", p.Name, err)
	}
	if err := d.Decode(&p); err == nil || err == io.EOF {
		t.Errorf("trailing garbage: second Decode = %v, want a syntax error", err)
	}
}

// Decoders come from a pool: many decodes at once, of different values,
// each get their own and only their own.
func TestPooledDecodersConcurrently(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				want := fmt.Sprintf("g%d-%d", g, i)
				in := `{"name":"` + want + `","arguments":{"i":` + strconv.Itoa(i) + `}}`
				if i%3 == 0 {
					in = `{"name":"` + want + `",` // broken: must fail, and spoil nothing
				}
				var p params
				err := decodeExact(t, in, &p)
				switch {
				case i%3 == 0 && err == nil:
					t.Errorf("%s: no error", in)
				case i%3 != 0 && (err != nil || p.Name != want || p.Args["i"] != float64(i)):
					t.Errorf("%s: %+v, %v", in, p, err)
				}
			}
		})
	}
	wg.Wait()
}

// A value refused for its type is read past, as encoding/json's Decoder
// reads past it: the next Decode says io.EOF. Its decoder goes back to the
// pool: a type error costs no new decoder (the SDK meets one per message,
// trying it as a batch first).
func TestTypeErrorReadsPast(t *testing.T) {
	in := []byte(`{"name":"a","arguments":{"x":"y"}}`)
	var batch []stdjson.RawMessage
	d := NewDecoder(bytes.NewReader(in))
	if err := d.Decode(&batch); err == nil || !strings.Contains(err.Error(), "cannot unmarshal object") {
		t.Fatalf("Decode = %v, want a type error", err)
	}
	if err := d.Decode(&batch); err != io.EOF {
		t.Errorf("second Decode = %v, want io.EOF", err)
	}
	// Warm the pool, then count: a refused try and the decode that
	// follows allocate no decoder and no string cache (4 KiB).
	decodeTwice := func() {
		var b []stdjson.RawMessage
		NewDecoder(bytes.NewReader(in)).Decode(&b)
		var p params
		if err := NewDecoder(bytes.NewReader(in)).Decode(&p); err != nil || p.Name != "a" {
			t.Fatalf("%+v, %v", p, err)
		}
	}
	decodeTwice()
	if raceEnabled {
		t.Skip("the race detector drops pooled values at random: no allocation count")
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 200
	for range n {
		decodeTwice()
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > 2048 {
		t.Errorf("%d bytes allocated per refused try and decode, want under 2 KiB", per)
	}
}
