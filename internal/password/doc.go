// Package password hashes and verifies secrets (user passwords, client secrets) with
// argon2id, stored as PHC strings ("$argon2id$v=19$m=…,t=…,p=…$salt$hash").
//
// It is used by login, by client authentication and by the tenant-file apply, so that a
// hash written by one is accepted by the others. It must never log, return or keep a
// plaintext secret, and Verify must stay constant-time in the secret. Hashing is
// deliberately slow: it belongs to login and registration, never to a per-token path.
package password
