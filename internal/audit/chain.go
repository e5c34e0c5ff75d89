package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Genesis is the hash the chain starts from: the Prev of record 1.
const Genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// Entry is one record of the trail as read back.
type Entry struct {
	Seq  int64
	Time time.Time // to the microsecond, UTC
	// Event is decoded from Raw; empty when Raw is not a valid event (a
	// record edited by hand, which Verify reports).
	Event Event
	// Raw is the event exactly as stored and hashed.
	Raw  json.RawMessage
	Prev string // hex SHA-256 of the previous record
	Hash string // hex SHA-256 of Prev and this record
	Sig  string // the batch checkpoint (JWS) on the last record of each commit
}

// exported is an Entry's JSON form (JSONL export, webhook bodies, syslog
// messages): the event is the stored bytes, so a copy can be re-hashed.
type exported struct {
	Seq   int64           `json:"seq"`
	Time  time.Time       `json:"time"`
	Event json.RawMessage `json:"event"`
	// Unreadable says Event is a JSON string holding the stored bytes,
	// which are not JSON (a record edited by hand): shown, not lost.
	Unreadable bool   `json:"event_unreadable,omitempty"`
	Prev       string `json:"prev"`
	Hash       string `json:"hash"`
	Sig        string `json:"sig,omitempty"`
}

// MarshalJSON writes the entry with its event as stored (Raw), or as
// encoded from Event when Raw is empty. Stored bytes that are not JSON
// are written as a string, flagged event_unreadable, so that one edited
// record neither breaks an export nor disappears from it.
func (e Entry) MarshalJSON() ([]byte, error) {
	raw, unreadable := e.Raw, false
	switch {
	case len(raw) == 0:
		var err error
		if raw, err = json.Marshal(e.Event); err != nil {
			return nil, err
		}
		raw = EscapeInvisible(raw)
	case !json.Valid(raw):
		raw, _ = json.Marshal(string(raw))
		raw, unreadable = EscapeInvisible(raw), true
	default:
		// The writer stores no raw control or invisible character; a
		// record edited at the database may hold one (valid JSON allows
		// C1 controls and bidirectional overrides in strings). Written
		// escaped: the view of a tampered record is as safe as any other
		// (its line no longer re-hashes, as it should not).
		raw = EscapeInvisible(raw)
	}
	return json.Marshal(exported{Seq: e.Seq, Time: e.Time, Event: raw, Unreadable: unreadable, Prev: e.Prev, Hash: e.Hash, Sig: e.Sig})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (e *Entry) UnmarshalJSON(b []byte) error {
	var x exported
	if err := json.Unmarshal(b, &x); err != nil {
		return err
	}
	*e = Entry{Seq: x.Seq, Time: x.Time.UTC(), Raw: x.Event, Prev: x.Prev, Hash: x.Hash, Sig: x.Sig}
	if x.Unreadable {
		var stored string
		if err := json.Unmarshal(x.Event, &stored); err != nil {
			return fmt.Errorf("audit entry %d: %w", x.Seq, err)
		}
		e.Raw = json.RawMessage(stored)
		return nil
	}
	if len(x.Event) > 0 {
		if err := json.Unmarshal(x.Event, &e.Event); err != nil {
			return fmt.Errorf("audit entry %d: %w", x.Seq, err)
		}
	}
	return nil
}

// Valid reports whether the entry's hash is what its Prev, Seq, Time and
// Raw event hash to: a check an off-box copy can make on its own.
func (e Entry) Valid() bool {
	return chainHash(e.Prev, e.Seq, e.Time.UnixMicro(), e.Raw) == e.Hash
}

// chainHash is SHA-256(prev || record), where prev is the previous hash as
// 32 bytes and record is the canonical JSON
// {"seq":N,"time":MICROS,"event":EVENT} with MICROS the Unix time in
// microseconds and EVENT the stored event bytes.
func chainHash(prev string, seq, micros int64, event []byte) string {
	h := sha256.New()
	if p, err := hex.DecodeString(prev); err == nil && len(p) == sha256.Size {
		h.Write(p)
	} else {
		// Not a hash: it cannot link, but still hash it so the result differs.
		h.Write([]byte(prev))
	}
	var b []byte
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `,"time":`...)
	b = strconv.AppendInt(b, micros, 10)
	b = append(b, `,"event":`...)
	h.Write(b)
	h.Write(event)
	h.Write([]byte{'}'})
	return hex.EncodeToString(h.Sum(nil))
}

// toEntry decodes a stored record. A record whose event does not decode
// (edited by hand: Verify reports it) comes back with an empty Event and
// its Raw bytes, so that it can still be seen.
func toEntry(r store.AuditRecord) Entry {
	e := Entry{Seq: r.Seq, Time: r.Time.UTC(), Raw: r.Event, Prev: r.Prev, Hash: r.Hash, Sig: r.Sig}
	if err := json.Unmarshal(r.Event, &e.Event); err != nil {
		e.Event = Event{}
	}
	return e
}

// maxIndexBytes caps the copies of event fields kept for queries: index
// entries have a size limit, and a name longer than this is abuse anyway.
const maxIndexBytes = 200

// indexValue is the form of a field kept in an index column and compared
// by filters: valid UTF-8, no NUL (which PostgreSQL's text refuses), at most
// maxIndexBytes.
func indexValue(s string) string {
	s = wholeValue(s)
	if len(s) > maxIndexBytes {
		cut := maxIndexBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}

// wholeValue is indexValue before the cut: valid UTF-8, no NUL. Each byte
// that is not UTF-8 becomes one U+FFFD, as encoding/json writes it into
// the stored event (strings.ToValidUTF8 would replace a run of such bytes
// with one): verify and Query compare a column with the value decoded from
// that event, so both must clean it alike.
func wholeValue(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == 0 || (r == utf8.RuneError && n == 1) {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// Redacted replaces a secret value in an event's Detail.
const Redacted = "[redacted]"

// secretKey reports whether a Detail key names something secret. Producers
// must not pass secrets at all; this is the second line of defence.
//
// The key is read as one word whatever its spelling: lower-cased, without
// '_', '-', '.' and spaces, so that access_token, accessToken, Access-Token
// and X-Api-Key are the same to it. That hides a harmless value now and
// then (pageToken); missing a key would keep a secret in a chain no one
// can take it out of.
func secretKey(k string) bool {
	k = strings.Map(func(r rune) rune {
		switch r {
		case '_', '-', '.', ' ':
			return -1
		}
		return unicode.ToLower(r)
	}, k)
	switch k {
	case "code", "token", "assertion", "apikey", "xapikey", "key", "jwk", "otp", "pin":
		return true
	}
	for _, w := range []string{"password", "passwd", "passphrase", "secret", "private", "verifier", "credential", "cookie", "authorization"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return strings.HasSuffix(k, "token") || strings.HasSuffix(k, "apikey")
}

// redact returns a copy of v with the values of secret-looking keys
// replaced, at any depth.
func redact(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			if secretKey(k) {
				out[k] = Redacted
				continue
			}
			out[k] = redact(val)
		}
		return out
	case map[string]string:
		out := make(map[string]any, len(x))
		for k, val := range x {
			if secretKey(k) {
				out[k] = Redacted
				continue
			}
			out[k] = val
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = redact(val)
		}
		return out
	case nil, string, bool, float64, float32, int, int64, int32, uint, uint64, uint32, json.Number:
		return v
	}
	// Any other value (a typed slice or map, a struct, JSON text kept as
	// a json.RawMessage) is judged as the trail will hold it: as JSON.
	b, err := json.Marshal(v)
	if err != nil {
		return v // encoding the event fails the same way
	}
	var decoded any
	if json.Unmarshal(b, &decoded) != nil {
		return v
	}
	switch decoded.(type) {
	case map[string]any, []any:
		return redact(decoded)
	}
	return v
}

// errTooLarge is returned for an event that stays over the size limit even
// without its Detail and Reasons.
var errTooLarge = errors.New("audit event too large")

// encodeEvent returns the event's canonical JSON (encoding/json: fields in
// declaration order, map keys sorted, no insignificant space, <>& escaped;
// then DEL, C1 controls and format characters escaped, see
// EscapeInvisible) with secret-looking Detail values redacted and, past
// max bytes, Detail and Reasons replaced by a marker.
func encodeEvent(e Event, max int) ([]byte, error) {
	if e.Type == "" {
		return nil, errors.New("audit event without a type")
	}
	if e.Detail != nil {
		e.Detail = redact(e.Detail).(map[string]any)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode audit event: %w", err)
	}
	b = EscapeInvisible(b)
	if len(b) <= max {
		return b, nil
	}
	size := len(b)
	e.Detail = map[string]any{"truncated": true, "size": size}
	e.Reasons = nil
	if b, err = json.Marshal(e); err != nil {
		return nil, fmt.Errorf("encode audit event: %w", err)
	}
	b = EscapeInvisible(b)
	if len(b) > max {
		return nil, fmt.Errorf("%w: %d bytes", errTooLarge, size)
	}
	return b, nil
}

// EscapeInvisible rewrites, in JSON that encoding/json wrote, the
// characters it leaves as they are although a terminal or log viewer may
// act on them: DEL, the C1 controls (U+0080–U+009F; U+009B is CSI, an
// ANSI escape on its own) and format characters (bidirectional overrides,
// zero-width characters). Each becomes a \u escape, so the JSON still
// decodes to the same values and every view of it (syslog, webhook,
// export, tail --json) shows them escaped. Such characters can only occur
// inside JSON strings, where the escape is valid. The server's JSON log
// goes through it too.
func EscapeInvisible(b []byte) []byte {
	invisible := func(r rune) bool { return r == 0x7f || (r >= 0x80 && r <= 0x9f) || unicode.Is(unicode.Cf, r) }
	i := 0
	for i < len(b) {
		if b[i] < 0x7f { // ASCII below DEL: visible or already escaped by encoding/json
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if invisible(r) {
			break
		}
		i += n
	}
	if i == len(b) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	out = append(out, b[:i]...)
	for i < len(b) {
		r, n := utf8.DecodeRune(b[i:])
		switch {
		case !invisible(r):
			out = append(out, b[i:i+n]...)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
		default:
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		i += n
	}
	return out
}
