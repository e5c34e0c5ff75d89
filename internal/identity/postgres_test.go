package identity

import (
	"os"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store/sqldb"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// TestOnPostgres runs the flows whose guarantees are the database's (single
// use, families, counters, consents, sessions) on PostgreSQL too, when
// GATEHOUSE_TEST_POSTGRES is set; CI requires it.
func TestOnPostgres(t *testing.T) {
	if os.Getenv("GATEHOUSE_TEST_POSTGRES") == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("GATEHOUSE_TEST_POSTGRES is not set: PostgreSQL tests are required under CI=true")
		}
		t.Skip("GATEHOUSE_TEST_POSTGRES is not set: skipping the PostgreSQL runs")
	}
	for name, fn := range map[string]func(*testing.T){
		"CodeFlow":           TestCodeFlow,
		"CodeIsSingleUse":    TestCodeIsSingleUse,
		"CodeReuseRaces":     TestCodeReuseRaces,
		"CodeRefusals":       TestCodeRefusals,
		"RefreshRotation":    TestRefreshRotation,
		"ClientCredentials":  TestClientCredentials,
		"TokenExchange":      TestTokenExchange,
		"Revocation":         TestRevocation,
		"Introspection":      TestIntrospection,
		"Login":              TestLogin,
		"LoginThrottle":      TestLoginThrottle,
		"Consent":            TestConsent,
		"Logout":             TestLogout,
		"Register":           TestRegisterPublicClient,
		"RegisterLimits":     TestRegisterLimits,
		"MetadataDocument":   TestClientIDMetadataDocument,
		"FederatedSignIn":    TestFederatedSignIn,
		"FederatedRoles":     TestFederatedSignInGivesOnlyRolesThatExist,
		"PurgeUnusedClients": TestUnusedRegistrationsAreForgotten,
		"PurgeKeepsClients":  TestPurgeKeepsClientsInUse,
		"PurgeIsRecorded":    TestPurgeOfClientsIsRecorded,
		"ClientIDNotText":    TestClientIDNotTextIsUnknown,
		"UsernameNotText":    TestLoginUsernameNotTextIsThrottled,
		"SignInBesideLock":   TestSignInBesideTenantLock,
		"CountersNoUsername": TestPasswordTypedAsUsernameIsNotStoredInClear,
		"SessionSlides":      TestSessionUsedWithinIdlePeriodSlides,
		"IdleSessionEnds":    TestIdleSessionEnds,
		"IdleEndsOnRefresh":  TestIdleSessionEndsItsGrantsOnRefresh,
		"IdleWritesSeldom":   TestSessionUseIsNotWrittenOnEveryRequest,
	} {
		t.Run(name, func(t *testing.T) {
			openBackend = func(tb testing.TB) *sqldb.DB { return storetest.OpenPostgres(tb.(*testing.T)) }
			defer func() { openBackend = nil }()
			fn(t)
		})
	}
}
