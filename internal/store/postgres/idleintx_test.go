package postgres_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store/postgres"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// TestIdleInTxTimeout: the store's sessions end a transaction left idle
// for postgres.IdleInTxTimeout (a frozen replica's locks are released), and
// a limit the operator chose stands instead: one in the database URL, as
// a parameter of its own or in options (0, no limit, included), or one the
// server gives the store's role.
func TestIdleInTxTimeout(t *testing.T) {
	base := storetest.PostgresSchema(t)
	def := fmt.Sprintf("%ds", int(postgres.IdleInTxTimeout/time.Second))
	for _, c := range []struct {
		name, key, value, want string
	}{
		{"default", "", "", def},
		{"url parameter", "idle_in_transaction_session_timeout", "7s", "7s"},
		{"url parameter off", "idle_in_transaction_session_timeout", "0", "0"},
		{"url options", "options", "-c idle_in_transaction_session_timeout=5s", "5s"},
		{"url options off", "options", "-c idle_in_transaction_session_timeout=0", "0"},
		{"url options other", "options", "-c lock_timeout=3s", def},
	} {
		t.Run(c.name, func(t *testing.T) {
			dsn := base
			if c.key != "" {
				dsn = withParam(t, base, c.key, c.value)
			}
			if got := idleSetting(t, dsn); got != c.want {
				t.Errorf("idle_in_transaction_session_timeout = %q, want %q", got, c.want)
			}
		})
	}

	t.Run("role setting", func(t *testing.T) {
		// A role of its own, owning the test's schema, with a limit of
		// its own: the store keeps it.
		admin, err := sql.Open("pgx", os.Getenv("GATEHOUSE_TEST_POSTGRES"))
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		dsn := storetest.PostgresSchema(t)
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		role := fmt.Sprintf("gh_idle_%d_%d", os.Getpid(), time.Now().UnixNano())
		for _, q := range []string{
			"CREATE ROLE " + role + " LOGIN",
			"ALTER ROLE " + role + " SET idle_in_transaction_session_timeout = '9s'",
			"ALTER SCHEMA " + u.Query().Get("search_path") + " OWNER TO " + role,
		} {
			if _, err := admin.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		t.Cleanup(func() {
			a, err := sql.Open("pgx", os.Getenv("GATEHOUSE_TEST_POSTGRES"))
			if err == nil {
				a.Exec("DROP OWNED BY " + role)
				a.Exec("DROP ROLE " + role)
				a.Close()
			}
		})
		u.User = url.User(role)
		if got := idleSetting(t, u.String()); got != "9s" {
			t.Errorf("idle_in_transaction_session_timeout = %q, want the role's 9s", got)
		}
	})
}

// idleSetting opens the store at dsn and returns the idle limit of its
// sessions, as several of its connections see it (they must agree).
func idleSetting(t *testing.T, dsn string) string {
	t.Helper()
	ctx := context.Background()
	st, err := postgres.Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Several connections at once: each is set when it is made.
	const conns = 3
	var got []string
	for range conns {
		c, err := st.SQL().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var v string
		if err := c.QueryRowContext(ctx, "SHOW idle_in_transaction_session_timeout").Scan(&v); err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	for _, v := range got[1:] {
		if v != got[0] {
			t.Errorf("connections disagree: %q", got)
		}
	}
	return got[0]
}

func withParam(t *testing.T, dsn, key, value string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(key, value)
	// The driver reads a + in a query value as a +, not a space.
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	return u.String()
}
