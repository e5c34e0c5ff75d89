package slipverify

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// encoding/json reads a JSON object into a struct leniently: a member
// name matches a field case-insensitively (under Unicode folding: "AUD",
// "ſub"), and of a name given twice the last wins. Other JWT libraries
// match exactly and some keep the first. A signed header or claims set
// with such names would be one slip to this package and another to them,
// so strictNames refuses them before either is decoded: no name twice in
// one object, no two names equal under folding, and no name that folds to
// a known member's without being spelt as it.

// shape is what strictNames knows of a JSON value: the members of an
// object, or the elements of an array. A nil shape knows nothing of the
// value but that it has no ambiguous names either.
type shape struct {
	fields map[string]*shape // by exact name: the shape of the member's value
	folds  map[string]string // foldKey of each field's name: the name
	elem   *shape            // of an array's elements
}

func object(fields map[string]*shape) *shape {
	s := &shape{fields: fields, folds: map[string]string{}}
	for name := range fields {
		s.folds[foldKey(name)] = name
	}
	return s
}

var (
	headerShape = object(map[string]*shape{"alg": nil, "kid": nil, "typ": nil, "crit": nil})
	claimsShape = func() *shape {
		act := object(map[string]*shape{"sub": nil, "client_id": nil, "act": nil})
		act.fields["act"] = act // nested: whoever the agent acted for
		detail := object(map[string]*shape{"type": nil, "tool": nil, "args_sha256": nil, "redeemer": nil})
		return object(map[string]*shape{
			"iss": nil, "sub": nil, "aud": nil, "act": act, "scope": nil,
			"authorization_details": {elem: detail},
			"jti":                   nil, "iat": nil, "exp": nil, "nbf": nil, "txn": nil,
		})
	}()
)

// strictNames checks that the JSON text b, of shape s, names every member
// of every object once, in one case, and each member s knows exactly as
// it is spelt.
func strictNames(b []byte, s *shape) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	return walkNames(dec, s)
}

func walkNames(dec *json.Decoder, s *shape) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]string{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			name, _ := tok.(string)
			f := foldKey(name)
			if prev, dup := seen[f]; dup {
				if prev == name {
					return fmt.Errorf("member %q appears twice", name)
				}
				return fmt.Errorf("members %q and %q differ only by case", prev, name)
			}
			seen[f] = name
			var child *shape
			if s != nil {
				if known, ok := s.folds[f]; ok && known != name {
					return fmt.Errorf("member %q is not spelt %q", name, known)
				}
				child = s.fields[name]
			}
			if err := walkNames(dec, child); err != nil {
				return err
			}
		}
		_, err = dec.Token() // }
		return err
	case json.Delim('['):
		var elem *shape
		if s != nil {
			elem = s.elem
		}
		for dec.More() {
			if err := walkNames(dec, elem); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ]
		return err
	}
	return nil
}

// CheckNames returns an error wrapping ErrInvalid when token, a compact
// JWS, has a JOSE header or claims that name a member twice, name two
// members equal under Unicode case folding ("aud" and "AUD"), or spell a
// member a slip has otherwise than it is spelt ("AUD", "ſub"), at any
// depth (act, authorization_details, unknown claims). encoding/json
// matches such names case-insensitively and keeps the last of
// duplicates; other JWT libraries match exactly or keep the first, so
// one such slip would be two different slips to them. Verify refuses
// them; a tool that checks slips with another JOSE library calls
// CheckNames first, to read every slip as Verify does. A token that is
// not a compact JWS of at most 16 KiB in strict base64url, or whose
// header is not a JSON object or names crit, is refused too, as Verify
// refuses it. CheckNames checks no signature and no claim's value.
func CheckNames(token string) error {
	_, payload, _, _, err := split(token)
	if err != nil {
		return err
	}
	if err := strictNames(payload, claimsShape); err != nil {
		return fmt.Errorf("%w: claims: %v", ErrInvalid, err)
	}
	return nil
}
