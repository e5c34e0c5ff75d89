// Package buildinfo names the Gatehouse release this binary is, the same
// everywhere it is shown: `gatehouse version`, the MCP serverInfo and the
// client info sent to upstream MCP servers.
package buildinfo

import "runtime/debug"

// Version is the release: what -ldflags "-X
// github.com/gatehouse/gatehouse/internal/buildinfo.Version=1.2.3" sets,
// else the module's version when the build knows it (go install
// …@v1.2.3), else the release this source is (release).
var Version = ""

// release is the version of this source, for builds that know no other
// (go run, go test, a build from a checkout without version control).
const release = "0.1.0"

func init() {
	if Version != "" {
		return
	}
	Version = release
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		Version = bi.Main.Version
	}
}

// Revision is the source revision the binary was built from (12 hex
// digits, "+dirty" when the checkout had changes), or "" when the build
// did not record it (go run, go test).
func Revision() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value[:min(12, len(s.Value))]
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		return ""
	}
	return rev + dirty
}
