package keys_test

import "encoding/base64"

func b64(s string) string             { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
func b64dec(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
