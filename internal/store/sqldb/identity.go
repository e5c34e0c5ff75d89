package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Identity returns the identity provider's records on this database.
func (s *DB) Identity() store.Identity { return identity{s} }

var _ store.Identity = identity{}

type identity struct{ db *DB }

// exec runs a write of its own. On engines with one writer at a time
// (SQLite) it queues on the process's write lock with the transactions:
// left to the engine's busy handler, which polls with sleeps of up to
// 100 ms, it lost the lock to them again and again under a steady stream
// of writes (tool calls' audit records) and waited seconds, past
// busy_timeout at worst, to store a code, a refresh token or a revocation.
func (i identity) exec(ctx context.Context, what, q string, args ...any) (int64, error) {
	unlock, err := i.db.waitWrites(ctx)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	defer unlock()
	res, err := i.db.execCached(ctx, i.db.sql, q, args...)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

func (i identity) getDoc(ctx context.Context, what, q string, v any, args ...any) error {
	var doc string
	err := i.db.queryRowCached(ctx, i.db.sql, q, args...).Scan(&doc)
	if isNoRows(err) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	if err := json.Unmarshal([]byte(doc), v); err != nil {
		return fmt.Errorf("decode %s: %w", what, err)
	}
	return nil
}

func (i identity) insert(ctx context.Context, what, q string, args ...any) error {
	n, err := i.exec(ctx, "store "+what, q, args...)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrConflict)
	}
	return nil
}

func doc(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func (i identity) CreateSession(ctx context.Context, s store.LoginSession) error {
	d, err := doc(s)
	if err != nil {
		return err
	}
	seen := s.LastSeenAt
	if seen.IsZero() {
		seen = s.CreatedAt
	}
	return i.insert(ctx, "session", `INSERT INTO login_sessions (secret_hash, id, username, doc, expires_at, last_seen)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, s.SecretHash, s.ID, s.Username, d, s.ExpiresAt.UnixMicro(), microOrZero(seen))
}

func (i identity) SessionBySecret(ctx context.Context, secretHash string) (store.LoginSession, error) {
	return i.session(ctx, "SELECT doc, last_seen FROM login_sessions WHERE secret_hash = ?", secretHash)
}

func (i identity) SessionByID(ctx context.Context, id string) (store.LoginSession, error) {
	return i.session(ctx, "SELECT doc, last_seen FROM login_sessions WHERE id = ?", id)
}

// session reads the one session q selects (its doc and last_seen).
func (i identity) session(ctx context.Context, q string, arg string) (store.LoginSession, error) {
	var (
		s    store.LoginSession
		d    string
		seen int64
	)
	err := i.db.queryRowCached(ctx, i.db.sql, q, arg).Scan(&d, &seen)
	if isNoRows(err) {
		return s, fmt.Errorf("session: %w", store.ErrNotFound)
	}
	if err != nil {
		return s, fmt.Errorf("read session: %w", err)
	}
	if err := json.Unmarshal([]byte(d), &s); err != nil {
		return s, fmt.Errorf("decode session: %w", err)
	}
	if seen != 0 {
		s.LastSeenAt = time.UnixMicro(seen).UTC()
	}
	return s, nil
}

// microOrZero is t in Unix microseconds, 0 for the zero time (a session's
// last use not known).
func microOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func (i identity) DeleteSession(ctx context.Context, id string) error {
	_, err := i.exec(ctx, "delete session", "DELETE FROM login_sessions WHERE id = ?", id)
	return err
}

func (i identity) TouchSession(ctx context.Context, id string, seen time.Time) error {
	t := seen.UnixMicro()
	_, err := i.exec(ctx, "record the session's use", "UPDATE login_sessions SET last_seen = ? WHERE id = ? AND last_seen < ?", t, id, t)
	return err
}

func (i identity) EndIdleSession(ctx context.Context, id string, idleSince time.Time, markerKind string, markerExpires time.Time) (bool, error) {
	var ended bool
	err := i.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := i.db.execCached(ctx, tx, "DELETE FROM login_sessions WHERE id = ? AND last_seen > 0 AND last_seen <= ?",
			id, idleSince.UnixMicro())
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 0 {
			return err
		}
		ended = true
		_, err = i.db.execCached(ctx, tx, consumeInsert, markerKind, id, markerExpires.UnixMicro())
		return err
	})
	if err != nil {
		return false, fmt.Errorf("end idle session: %w", err)
	}
	return ended, nil
}

func (i identity) EndExpiredSession(ctx context.Context, id string, now time.Time) (bool, error) {
	n, err := i.exec(ctx, "end expired session", "DELETE FROM login_sessions WHERE id = ? AND expires_at <= ?", id, now.UnixMicro())
	return n > 0, err
}

func (i identity) CreateAuthCode(ctx context.Context, c store.AuthCode) error {
	d, err := doc(c)
	if err != nil {
		return err
	}
	return i.insert(ctx, "authorization code", `INSERT INTO auth_codes (id, username, client_id, doc, expires_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`, c.Hash, c.Username, c.ClientID, d, c.ExpiresAt.UnixMicro())
}

func (i identity) AuthCode(ctx context.Context, hash string) (store.AuthCode, error) {
	var c store.AuthCode
	err := i.getDoc(ctx, "authorization code", "SELECT doc FROM auth_codes WHERE id = ?",
		&c, hash)
	return c, err
}

func (i identity) AuthCodeStands(ctx context.Context, hash string) (bool, error) {
	var one int
	err := i.db.queryRowCached(ctx, i.db.sql, "SELECT 1 FROM auth_codes WHERE id = ?"+i.db.dialect.ForUpdate, hash).Scan(&one)
	switch {
	case isNoRows(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("read authorization code: %w", err)
	}
	return true, nil
}

// UserNow reads the user under its row's lock (FOR UPDATE), in a
// statement of its own: it waits for a transaction changing the user and
// holds the row no longer than the statement. Where the engine has no
// row locks (SQLite) it is a plain read: the session or code the caller
// stored before asking waited for any write transaction, the one changing
// the user included, to end, or came before it began.
func (i identity) UserNow(ctx context.Context, username string) (store.User, error) {
	return i.db.tenant.Users().(collection[store.User]).get(ctx, i.db.sql, username, i.db.dialect.ForUpdate)
}

func (i identity) CreateRefreshToken(ctx context.Context, t store.RefreshToken) error {
	d, err := doc(t)
	if err != nil {
		return err
	}
	// Kept until its grant ends, past its own expiry (the document's): a
	// used token shown again then still revokes its grant.
	keep := t.ExpiresAt
	if t.GrantExpiresAt.After(keep) {
		keep = t.GrantExpiresAt
	}
	return i.insert(ctx, "refresh token", `INSERT INTO refresh_tokens (id, grant_id, username, client_id, doc, expires_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`, t.Hash, t.GrantID, t.Username, t.ClientID, d, keep.UnixMicro())
}

func (i identity) RefreshToken(ctx context.Context, hash string) (store.RefreshToken, error) {
	var t store.RefreshToken
	err := i.getDoc(ctx, "refresh token", "SELECT doc FROM refresh_tokens WHERE id = ?",
		&t, hash)
	return t, err
}

func (i identity) Revoke(ctx context.Context, kind, id string, expires time.Time) error {
	_, err := i.exec(ctx, "revoke", `INSERT INTO revocations (kind, id, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (kind, id) DO UPDATE SET expires_at = CASE WHEN excluded.expires_at > revocations.expires_at
		THEN excluded.expires_at ELSE revocations.expires_at END`, kind, id, expires.UnixMicro())
	return err
}

func (i identity) Revoked(ctx context.Context, grantID, jti string) (bool, error) {
	if grantID == "" && jti == "" {
		return false, nil
	}
	var n int
	err := i.db.queryRowCached(ctx, i.db.sql, `SELECT COUNT(*) FROM revocations
		WHERE (kind = ? AND id = ?) OR (kind = ? AND id = ?)`,
		store.RevokedGrant, grantID, store.RevokedToken, jti).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("read revocations: %w", err)
	}
	return n > 0, nil
}

func (i identity) ClientEndedAt(ctx context.Context, clientID string) (time.Time, error) {
	var at int64
	err := i.db.queryRowCached(ctx, i.db.sql, "SELECT ended_at FROM ended_clients WHERE client_id = ?", clientID).Scan(&at)
	switch {
	case isNoRows(err):
		return time.Time{}, nil
	case err != nil:
		return time.Time{}, fmt.Errorf("read client removal: %w", err)
	}
	return time.UnixMicro(at).UTC(), nil
}

func (i identity) Consumed(ctx context.Context, kind, id string) (bool, error) {
	var n int
	err := i.db.queryRowCached(ctx, i.db.sql, "SELECT COUNT(*) FROM consumed WHERE kind = ? AND id = ?",
		kind, id).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("read consumed: %w", err)
	}
	return n > 0, nil
}

func (i identity) Unconsume(ctx context.Context, kind, id string) error {
	_, err := i.exec(ctx, "unconsume "+kind, "DELETE FROM consumed WHERE kind = ? AND id = ?", kind, id)
	return err
}

func (i identity) Consent(ctx context.Context, username, clientID string) (store.Consent, error) {
	var c store.Consent
	err := i.getDoc(ctx, "consent", "SELECT doc FROM consents WHERE username = ? AND client_id = ?",
		&c, username, clientID)
	return c, err
}

func (i identity) SetConsent(ctx context.Context, c store.Consent) error {
	d, err := doc(c)
	if err != nil {
		return err
	}
	_, err = i.exec(ctx, "store consent", `INSERT INTO consents (username, client_id, doc) VALUES (?, ?, ?)
		ON CONFLICT (username, client_id) DO UPDATE SET doc = excluded.doc`, c.Username, c.ClientID, d)
	return err
}

func (i identity) DeleteConsent(ctx context.Context, username, clientID string) error {
	_, err := i.exec(ctx, "delete consent", "DELETE FROM consents WHERE username = ? AND client_id = ?", username, clientID)
	return err
}

func (i identity) CountAttempt(ctx context.Context, key string, now time.Time, window time.Duration) (int, error) {
	t, end := now.UnixMicro(), now.Add(window).UnixMicro()
	// One statement, so concurrent attempts on any replica each count: a
	// counter whose window has ended starts a new window at 1.
	var n int
	count := func(ctx context.Context, on querier) error {
		return i.db.queryRowCached(ctx, on, `INSERT INTO login_attempts (name, window_start, window_end, attempts)
		VALUES (?, ?, ?, 1)
		ON CONFLICT (name) DO UPDATE SET
			attempts = CASE WHEN login_attempts.window_end <= ? THEN 1 ELSE login_attempts.attempts + 1 END,
			window_start = CASE WHEN login_attempts.window_end <= ? THEN excluded.window_start ELSE login_attempts.window_start END,
			window_end = CASE WHEN login_attempts.window_end <= ? THEN excluded.window_end ELSE login_attempts.window_end END
		RETURNING attempts`, key, t, end, t, t, t).Scan(&n)
	}
	var err error
	if i.db.dialect.OneWriter {
		// Concurrent counts (every tool call of a tenant with a bound,
		// sign-ins) share a commit, in turn with the other writes, rather
		// than wait for SQLite's write lock on its own.
		err = i.db.shared(ctx, func(ctx context.Context, tx *sql.Tx) error { return count(ctx, tx) })
	} else {
		err = count(ctx, i.db.sql)
	}
	if err != nil {
		return 0, fmt.Errorf("count attempt: %w", err)
	}
	return n, nil
}

func (i identity) Attempts(ctx context.Context, key string, now time.Time) (int, error) {
	var n int
	err := i.db.queryRowCached(ctx, i.db.sql,
		"SELECT attempts FROM login_attempts WHERE name = ? AND window_end > ?", key, now.UnixMicro()).Scan(&n)
	if isNoRows(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read attempts: %w", err)
	}
	return n, nil
}

func (i identity) ForgiveAttempt(ctx context.Context, key string) error {
	_, err := i.exec(ctx, "forgive attempt",
		"UPDATE login_attempts SET attempts = attempts - 1 WHERE name = ? AND attempts > 0", key)
	return err
}

func (i identity) ResetAttempts(ctx context.Context, key string) error {
	_, err := i.exec(ctx, "reset attempts", "DELETE FROM login_attempts WHERE name = ?", key)
	return err
}

func (i identity) CreateFederationState(ctx context.Context, f store.FederationState) error {
	d, err := doc(f)
	if err != nil {
		return err
	}
	return i.insert(ctx, "federation state", `INSERT INTO federation_states (id, doc, expires_at) VALUES (?, ?, ?)
		ON CONFLICT DO NOTHING`, f.Hash, d, f.ExpiresAt.UnixMicro())
}

func (i identity) FederationState(ctx context.Context, hash string) (store.FederationState, error) {
	var f store.FederationState
	err := i.getDoc(ctx, "federation state", "SELECT doc FROM federation_states WHERE id = ?", &f, hash)
	return f, err
}

// grantsOf returns the grants of the stored authorization codes whose
// holder (column: username or client_id) is who.
func (t tenant) grantsOf(ctx context.Context, q querier, holder, who string) (map[string]struct{}, error) {
	rows, err := q.QueryContext(ctx, t.db.Rebind("SELECT doc FROM auth_codes WHERE "+holder+" = ?"), who)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	grants := map[string]struct{}{}
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, err
		}
		// A code that does not decode cannot be redeemed either: it is
		// no reason to keep a person or client from being ended.
		var c store.AuthCode
		if json.Unmarshal([]byte(d), &c) == nil && c.GrantID != "" {
			grants[c.GrantID] = struct{}{}
		}
	}
	return grants, rows.Err()
}

func (i identity) PurgeIdentity(ctx context.Context, now time.Time) (int64, error) {
	t := now.UnixMicro()
	var total int64
	for _, q := range []struct {
		query  string
		before int64
	}{
		{"DELETE FROM login_sessions WHERE expires_at <= ?", now.Add(-store.SessionKept).UnixMicro()},
		{"DELETE FROM auth_codes WHERE expires_at <= ?", now.Add(-store.AuthCodeKept).UnixMicro()},
		{"DELETE FROM refresh_tokens WHERE expires_at <= ?", t},
		{"DELETE FROM revocations WHERE expires_at <= ?", t},
		{"DELETE FROM ended_clients WHERE expires_at <= ?", t},
		{"DELETE FROM login_attempts WHERE window_end <= ?", t},
		{"DELETE FROM federation_states WHERE expires_at <= ?", t},
	} {
		n, err := i.exec(ctx, "purge identity", q.query, q.before)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// EndUser implements store.Tenant.EndUser on the identity tables, in the
// caller's transaction or in one of its own.
func (t tenant) EndUser(ctx context.Context, username string, until time.Time) (store.UserEnded, error) {
	var ended store.UserEnded
	run := func(q querier) error {
		exec := func(what, query string, args ...any) (int64, error) {
			res, err := q.ExecContext(ctx, t.db.Rebind(query), args...)
			if err != nil {
				return 0, fmt.Errorf("end user %q: %s: %w", username, what, err)
			}
			return res.RowsAffected()
		}
		// Every session goes, but only those not expired yet are counted:
		// an expired one (kept store.SessionKept so that its end is
		// noticed) had ended already, and the count is reported, and
		// audited, as what ending the user ended.
		var err error
		if ended.Sessions, err = exec("sessions", "DELETE FROM login_sessions WHERE username = ? AND expires_at > ?",
			username, t.db.now().UnixMicro()); err != nil {
			return err
		}
		if _, err = exec("expired sessions", "DELETE FROM login_sessions WHERE username = ?", username); err != nil {
			return err
		}
		if ended.Grants, err = t.endGrants(ctx, q, "username", username, until); err != nil {
			return fmt.Errorf("end user %q: %w", username, err)
		}
		ended.Consents, err = exec("consents", "DELETE FROM consents WHERE username = ?", username)
		return err
	}
	if t.inTx {
		return ended, run(t.q)
	}
	return ended, t.db.Tx(ctx, func(tx *sql.Tx) error { return run(tx) })
}

// unrevokedGrants counts the grants of ids not revoked yet: what ending
// them ends (endGrants).
func (t tenant) unrevokedGrants(ctx context.Context, q querier, ids iter.Seq[string]) (int64, error) {
	var n int64
	for g := range ids {
		var revoked int64
		if err := q.QueryRowContext(ctx, t.db.Rebind("SELECT COUNT(*) FROM revocations WHERE kind = ? AND id = ?"),
			store.RevokedGrant, g).Scan(&revoked); err != nil {
			return 0, fmt.Errorf("grants: %w", err)
		}
		if revoked == 0 {
			n++
		}
	}
	return n, nil
}

// endGrants ends the grants of who, the holder (column: username or
// client_id) of authorization codes and refresh tokens: it deletes the
// codes and revokes every grant of theirs and of the refresh tokens, and
// returns how many grants.
func (t tenant) endGrants(ctx context.Context, q querier, holder, who string, until time.Time) (int64, error) {
	exec := func(what, query string, args ...any) error {
		if _, err := q.ExecContext(ctx, t.db.Rebind(query), args...); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	// The grants of the codes, redeemed ones included (kept
	// store.AuthCodeKept after they expire): a client without refresh
	// tokens holds its grant only in its access tokens, which
	// refresh_tokens knows nothing of.
	grants, err := t.grantsOf(ctx, q, holder, who)
	if err != nil {
		return 0, fmt.Errorf("codes: %w", err)
	}
	// What is counted is what this ends: a grant revoked before (a
	// password changed twice, a token family revoked) is not ended again.
	ended, err := t.unrevokedGrants(ctx, q, maps.Keys(grants))
	if err != nil {
		return 0, err
	}
	if err := exec("codes", "DELETE FROM auth_codes WHERE "+holder+" = ?", who); err != nil {
		return 0, err
	}
	// One revocation per grant, kept as long as its last refresh token
	// (and at least until); a revocation already there is only ever
	// lengthened.
	u := until.UnixMicro()
	const lengthen = ` ON CONFLICT (kind, id) DO UPDATE SET expires_at = CASE WHEN excluded.expires_at > revocations.expires_at
		THEN excluded.expires_at ELSE revocations.expires_at END`
	for g := range grants {
		if err := exec("grants", `INSERT INTO revocations (kind, id, expires_at) VALUES (?, ?, ?)`+lengthen,
			store.RevokedGrant, g, u); err != nil {
			return 0, err
		}
	}
	rows, err := q.QueryContext(ctx, t.db.Rebind("SELECT DISTINCT grant_id FROM refresh_tokens WHERE "+holder+" = ?"), who)
	if err != nil {
		return 0, fmt.Errorf("grants: %w", err)
	}
	var more []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			rows.Close()
			return 0, fmt.Errorf("grants: %w", err)
		}
		if _, ok := grants[g]; !ok {
			grants[g] = struct{}{}
			more = append(more, g)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, fmt.Errorf("grants: %w", err)
	}
	n, err := t.unrevokedGrants(ctx, q, slices.Values(more))
	if err != nil {
		return 0, err
	}
	ended += n
	err = exec("grants", `INSERT INTO revocations (kind, id, expires_at)
		SELECT '`+store.RevokedGrant+`', grant_id, CASE WHEN MAX(expires_at) > ? THEN MAX(expires_at) ELSE ? END
		FROM refresh_tokens WHERE `+holder+` = ? GROUP BY grant_id`+lengthen, u, u, who)
	if err != nil {
		return 0, err
	}
	return ended, nil
}

// EndClient implements store.Tenant.EndClient on the identity tables, in the
// caller's transaction or in one of its own.
func (t tenant) EndClient(ctx context.Context, clientID string, until time.Time) (store.ClientEnded, error) {
	var ended store.ClientEnded
	run := func(q querier) error {
		var err error
		ended, err = t.endClient(ctx, q, clientID, until)
		return err
	}
	if t.inTx {
		return ended, run(t.q)
	}
	return ended, t.db.Tx(ctx, func(tx *sql.Tx) error { return run(tx) })
}

// endClient is EndClient on q, a transaction.
func (t tenant) endClient(ctx context.Context, q querier, clientID string, until time.Time) (store.ClientEnded, error) {
	var ended store.ClientEnded
	var err error
	if ended.Grants, err = t.endGrants(ctx, q, "client_id", clientID, until); err != nil {
		return ended, fmt.Errorf("end client %q: %w", clientID, err)
	}
	res, err := q.ExecContext(ctx, t.db.Rebind("DELETE FROM consents WHERE client_id = ?"), clientID)
	if err != nil {
		return ended, fmt.Errorf("end client %q: consents: %w", clientID, err)
	}
	if ended.Consents, err = res.RowsAffected(); err != nil {
		return ended, err
	}
	// The removal's time, on the clock that stamps the clients'
	// creation: the tokens issued to the removed client are dated at or
	// before it, a client added again under the ID is created after it.
	// Removed again, the later removal is kept, and the longer.
	_, err = q.ExecContext(ctx, t.db.Rebind(`INSERT INTO ended_clients (client_id, ended_at, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (client_id) DO UPDATE SET
		ended_at = CASE WHEN excluded.ended_at > ended_clients.ended_at THEN excluded.ended_at ELSE ended_clients.ended_at END,
		expires_at = CASE WHEN excluded.expires_at > ended_clients.expires_at THEN excluded.expires_at ELSE ended_clients.expires_at END`),
		clientID, t.db.now().UnixMicro(), until.UnixMicro())
	if err != nil {
		return ended, fmt.Errorf("end client %q: removal: %w", clientID, err)
	}
	return ended, nil
}
