package audit

// Redact returns a copy of v with the values of secret-looking keys
// (password, token, api_key, client_secret …) replaced by Redacted, at any
// depth: the rule the trail applies to every event's Detail. v is a value
// as encoding/json decodes into an any (maps, slices, scalars). Redact
// does not look into JSON text: a producer that keeps some, as a
// json.RawMessage in Detail, decodes it, redacts it and encodes it again.
func Redact(v any) any { return redact(v) }
