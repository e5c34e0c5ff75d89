package audit

// Redact returns a copy of v with the values of secret-looking keys
// (password, token, api_key, client_secret …) replaced by Redacted, at any
// depth: the rule the trail applies to every event's Detail. v is a value
// as encoding/json decodes into an any (maps, slices, scalars); any other
// (a typed slice or map, a struct, a json.RawMessage) is judged as the
// JSON it encodes to.
func Redact(v any) any { return redact(v) }
