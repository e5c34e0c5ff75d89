package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse/gatehouse/internal/store"
)

// File is a tenant file.
type File struct {
	Tenant    string     `yaml:"tenant"`
	Roles     []Role     `yaml:"roles"`
	Users     []User     `yaml:"users"`
	Clients   []Client   `yaml:"clients"`
	Upstreams []Upstream `yaml:"upstreams"`
	Tools     []Tool     `yaml:"tools"`
	// Connections are upstream OpenID providers people may sign in with.
	Connections []Connection `yaml:"connections"`
	// Audit settings of the tenant.
	Audit *AuditSettings `yaml:"audit"`
	// Limits bound what callers may do.
	Limits *Limits `yaml:"limits"`

	lines map[string]int // path ("users[2].roles") → line, for messages
	name  string         // the file's name, for messages
}

// Role of the tenant.
type Role struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
}

// User of the tenant. Password is hashed on apply; PasswordHash takes an
// argon2id PHC string as is.
type User struct {
	Username     string            `yaml:"username"`
	Email        string            `yaml:"email"`
	Password     string            `yaml:"password"`
	PasswordHash string            `yaml:"password_hash"`
	Roles        []string          `yaml:"roles"`
	Attributes   map[string]string `yaml:"attributes"`
	Disabled     bool              `yaml:"disabled"`
}

// Client is an app or an AI agent.
type Client struct {
	ClientID               string    `yaml:"client_id"`
	Name                   string    `yaml:"name"`
	Kind                   string    `yaml:"kind"`
	RedirectURIs           []string  `yaml:"redirect_uris"`
	PostLogoutRedirectURIs []string  `yaml:"post_logout_redirect_uris"`
	Tools                  *[]string `yaml:"tools" empty:"refuse"` // absent = no cap
	Secret                 string    `yaml:"secret"`
	SecretHash             string    `yaml:"secret_hash"`
	FirstParty             bool      `yaml:"first_party"`
	Disabled               bool      `yaml:"disabled"` // no tokens, and its tokens refused, as for a disabled user
	// IDTokenSignedResponseAlg is the algorithm of the client's ID tokens
	// (RS256 or EdDSA); absent means RS256.
	IDTokenSignedResponseAlg string `yaml:"id_token_signed_response_alg"`
}

// Upstream is an MCP server behind the gateway.
type Upstream struct {
	Name    string   `yaml:"name"`
	Command []string `yaml:"command"`
	URL     string   `yaml:"url"`
	// HeadersEnv gives a Streamable HTTP upstream the gateway's own
	// credentials: header name → the environment variable of the server
	// that holds its value (e.g. Authorization: CRM_MCP_AUTH). The value
	// is read when the upstream is connected and never stored; the
	// caller's token is never sent onward.
	HeadersEnv map[string]string `yaml:"headers_env"`
	// Env names the variables of the server's environment a stdio
	// upstream gets besides PATH, HOME, the locale and the like (e.g.
	// GITHUB_TOKEN). Nothing else of the server's environment reaches it.
	Env []string `yaml:"env"`
	// PerCaller starts a stdio upstream once per caller (a person through
	// an agent), each process closed after two idle minutes; see
	// store.Upstream.PerCaller.
	PerCaller bool `yaml:"per_caller"`
	// CallTimeout bounds one tool call to the upstream ("90s", "10m");
	// empty means the gateway's default (5 minutes).
	CallTimeout string `yaml:"call_timeout"`
	// AllowPlainHTTP takes a plain http URL on a host other than this
	// machine, whose requests (with the HeadersEnv credentials) cross the
	// network in clear text; without it only https is, and http to a
	// loopback host. Checked when the file is validated, never stored.
	AllowPlainHTTP bool `yaml:"allow_plain_http"`
}

// HTTPTool is a tool that is an HTTP API call.
type HTTPTool struct {
	Method   string `yaml:"method"`
	URL      string `yaml:"url"`
	ClientID string `yaml:"client_id"`
	// AllowPlainHTTP takes a plain http URL on a host other than this
	// machine, to which each call's permission slip goes in clear text;
	// see Upstream.AllowPlainHTTP.
	AllowPlainHTTP bool `yaml:"allow_plain_http"`
}

// Tool is a catalogue entry and its grants.
type Tool struct {
	Name         string         `yaml:"name"`
	Description  string         `yaml:"description"`
	Builtin      string         `yaml:"builtin"`
	Upstream     string         `yaml:"upstream"`
	UpstreamTool string         `yaml:"upstream_tool"`
	HTTP         *HTTPTool      `yaml:"http"`
	InputSchema  map[string]any `yaml:"input_schema" empty:"refuse"`
	Roles        []string       `yaml:"roles"`
	When         string         `yaml:"when" empty:"refuse"`
}

// Connection is an upstream OpenID provider (Okta, Entra, Auth0,
// Keycloak…) people may sign in with. Its client secret is never in the
// file: ClientSecretEnv names the environment variable the server reads it
// from at start.
type Connection struct {
	Name            string              `yaml:"name" json:"name"`
	DisplayName     string              `yaml:"display_name" json:"display_name,omitempty"`
	Issuer          string              `yaml:"issuer" json:"issuer"`
	ClientID        string              `yaml:"client_id" json:"client_id"`
	ClientSecretEnv string              `yaml:"client_secret_env" json:"client_secret_env,omitempty"`
	Scopes          []string            `yaml:"scopes" json:"scopes,omitempty"`
	UsernameClaim   string              `yaml:"username_claim" json:"username_claim,omitempty"`
	RolesClaim      string              `yaml:"roles_claim" json:"roles_claim,omitempty"`
	RoleMap         map[string][]string `yaml:"role_map" json:"role_map,omitempty"`
	DefaultRoles    []string            `yaml:"default_roles" json:"default_roles,omitempty"`
}

// AuditSettings are the tenant's audit options.
type AuditSettings struct {
	// RawArguments, when true, keeps tool call arguments in the trail, not
	// only their digest.
	RawArguments bool `yaml:"raw_arguments"`
	// Retention is how long records are kept, e.g. "2160h"; empty = forever.
	Retention string `yaml:"retention"`
}

// Limits are the tenant's bounds on callers.
type Limits struct {
	// ToolCallsPerMinute bounds the tool calls one person makes through
	// one agent (a machine client on its own: per client) in a minute,
	// across replicas; 0 = no bound.
	ToolCallsPerMinute int `yaml:"tool_calls_per_minute"`
	// ToolCallsPerMinutePerPerson bounds the tool calls one person makes
	// in a minute through all agents together, across replicas (a person
	// who may register agents would otherwise multiply the bound above by
	// registering more); 0 = no bound. Machine clients have no person: the
	// bound above is theirs.
	ToolCallsPerMinutePerPerson int `yaml:"tool_calls_per_minute_per_person"`
}

// MaxToolCallsPerMinute bounds Limits.ToolCallsPerMinute: beyond it, a
// bound bounds nothing one caller could do.
const MaxToolCallsPerMinute = 1_000_000

// Problem is one mistake in a tenant file.
type Problem struct {
	File string
	Line int    // 0 when unknown
	Path string // e.g. users[1].roles[0]
	Msg  string
	// more is, on the last problem of a Problems that reached
	// maxProblems, how many more were found and not kept (Problems.add).
	more int
}

func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		b.WriteString(":")
	}
	if p.Line > 0 {
		fmt.Fprintf(&b, "%d: ", p.Line)
	} else if p.File != "" {
		b.WriteString(" ")
	}
	if p.Path != "" {
		b.WriteString(shownPath(p.Path))
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// shownPath is path as a message shows it: quoted, and escaped, when a
// key in it holds a character that is not printable or hidden (a
// terminal's escape sequence, a bidirectional override); and cut as
// quoted cuts a value when it is longer than maxQuoted: a key written
// explicitly ("? kkkk…") is bounded only by the file, and the path of an
// unknown one of a megabyte made a message of a megabyte.
func shownPath(path string) string {
	if len(path) > maxQuoted {
		return cut(path, strconv.QuoteToASCII)
	}
	for _, r := range path {
		if store.IsHiddenRune(r) || !unicode.IsPrint(r) {
			return strconv.QuoteToASCII(path)
		}
	}
	return path
}

// maxQuoted bounds how much of a value a message quotes.
const maxQuoted = 100

// quoted is s as a message quotes it (%q), cut after its first maxQuoted
// bytes, with its length: a value refused for its shape may be as large
// as the file (megabytes), and its start says which one it is.
func quoted(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	return cut(s, strconv.Quote)
}

// cut is the first maxQuoted bytes of s (fewer, to end on a whole
// character) quoted by quote, and the length of s.
func cut(s string, quote func(string) string) string {
	i := maxQuoted
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return fmt.Sprintf("%s… (%d bytes)", quote(s[:i]), len(s))
}

// Problems is every mistake found in a file; it is an error.
type Problems []Problem

// maxShownProblems bounds the problems an error shows: the wrong file
// given (one of thousands of lines) would otherwise make a message as
// large as itself, its first lines long scrolled past.
const maxShownProblems = 100

// maxProblems bounds the problems a Problems keeps: a file made of
// mistakes (megabytes of unknown keys, or of entries without a name) made
// one of each, over a million for a 7 MB file, at about a hundred times
// its size in memory, though an error shows maxShownProblems of them.
// Past the bound they are only counted (Problem.more), and the error
// still says how many there were.
const maxProblems = 1000

// add keeps p, or, once ps holds maxProblems, counts it.
func (ps *Problems) add(p Problem) {
	if len(*ps) < maxProblems {
		*ps = append(*ps, p)
		return
	}
	(*ps)[len(*ps)-1].more++
}

// addAll adds every problem of qs, and those qs only counted.
func (ps *Problems) addAll(qs Problems) {
	for _, q := range qs {
		more := q.more
		q.more = 0
		ps.add(q)
		if more > 0 {
			// qs held maxProblems: so does ps now.
			(*ps)[len(*ps)-1].more += more
		}
	}
}

// count is how many problems were found: those kept, and those counted.
func (ps Problems) count() int {
	if len(ps) == 0 {
		return 0
	}
	return len(ps) + ps[len(ps)-1].more
}

// sortByLine sorts ps by line, stably; the count of those not kept stays
// on the last.
func (ps Problems) sortByLine() {
	if len(ps) == 0 {
		return
	}
	more := ps[len(ps)-1].more
	ps[len(ps)-1].more = 0
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
	ps[len(ps)-1].more = more
}

func (ps Problems) Error() string {
	total := ps.count()
	lines := make([]string, 0, min(len(ps), maxShownProblems)+1)
	for _, p := range ps[:min(len(ps), maxShownProblems)] {
		lines = append(lines, p.String())
	}
	if total > maxShownProblems {
		lines = append(lines, fmt.Sprintf("… and %d more", total-maxShownProblems))
	}
	n := "1 problem"
	if total != 1 {
		n = fmt.Sprintf("%d problems", total)
	}
	return fmt.Sprintf("tenant file has %s:\n  %s", n, strings.Join(lines, "\n  "))
}

// MaxFileSize bounds a tenant file.
const MaxFileSize = 8 << 20

// Parse reads a tenant file strictly: unknown fields, wrong types and
// duplicate keys are all reported, with their lines, in one Problems error.
// name labels messages (the file's path).
func Parse(r io.Reader, name string) (*File, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // named below; "read x: read x: is a directory" before
		}
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > MaxFileSize {
		return nil, Problems{{File: name, Msg: fmt.Sprintf("file is larger than %d bytes", MaxFileSize)}}
	}
	// One decoder reads the document and then looks for a second: the
	// tree is built once (for a file of many short values, it is most of
	// the memory Parse uses).
	docs := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := docs.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		if anchor, ok := unknownAnchor(err); ok {
			// Most likely a value that starts with * (a password?): the
			// anchor's name is that value, so it is never shown.
			return nil, Problems{{File: name, Line: aliasLine(data, anchor), Msg: msgAlias}}
		}
		line := yamlErrLine(err)
		if line == 0 {
			// The parser says no line for a byte it cannot read.
			line = badByteLine(data)
		}
		return nil, Problems{{File: name, Line: line, Msg: cleanYAMLError(err)}}
	}
	f := &File{lines: map[string]int{}, name: name}
	if len(root.Content) == 0 {
		return nil, Problems{{File: name, Msg: "file is empty"}}
	}
	// A second document (after a line "---", two files put together, say)
	// would be dropped without a word: refused.
	var second yaml.Node
	if err := docs.Decode(&second); !errors.Is(err, io.EOF) {
		line := second.Line
		if err != nil {
			line = yamlErrLine(err)
		}
		return nil, Problems{{File: name, Line: line, Msg: "the file holds more than one YAML document (a line --- starts another): a tenant is one document"}}
	}
	doc := root.Content[0]
	var probs Problems
	plain(doc, nil, &probs)
	if len(probs) == 0 {
		check(doc, reflect.TypeOf(File{}), "", f.lines, &probs)
	}
	for i := range probs {
		probs[i].File = name
	}
	if len(probs) == 0 {
		var errs []string
		decode(doc, reflect.ValueOf(f).Elem(), &errs)
		for _, e := range errs {
			probs.add(Problem{File: name, Line: lineOf(e), Msg: stripLine(e)})
		}
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return f, nil
}

// The messages of what plain refuses. They never name the anchor or the
// tag: a password that starts with &, * or ! is read as one, and its name
// is then the password.
const (
	msgAlias  = "YAML aliases (*name) are not supported: write the value out (quote a value that starts with *)"
	msgAnchor = "YAML anchors (&name) are not supported: remove it (quote a value that starts with &)"
	msgTag    = "YAML tags (!name, !!type) are not supported: remove it (quote a value that starts with !)"
)

// maxPlainProblems bounds how many anchors, aliases and tags are reported:
// a file made of nothing else would make an error as large as itself.
const maxPlainProblems = 10

// plain refuses the YAML a tenant file has no need of, walking the tree as
// written, one visit per node, before anything follows an alias:
//   - anchors and aliases: expanding aliases that refer to aliases (a
//     "billion laughs" file) costs exponential time and memory, and none
//     of our tenant files uses one;
//   - explicit tags (!Foo, !!binary, !!int): they change what a value
//     decodes to, or make it decode to nothing, and `password: !Foo` read
//     as an empty password would keep the stored one. The non-specific
//     tag "!" alone is not seen (the parser drops it); it only makes a
//     value the string it reads as.
//
// The path is kept as its steps and written out only for a problem: a
// value nested thousands of levels deep would otherwise cost each level
// its whole path, the square of the depth in all.
func plain(n *yaml.Node, path steps, probs *Problems) {
	if len(*probs) >= maxPlainProblems {
		return
	}
	if n.Kind == yaml.AliasNode {
		probs.add(Problem{Line: n.Line, Path: path.String(), Msg: msgAlias})
		return // never followed
	}
	if n.Anchor != "" {
		probs.add(Problem{Line: n.Line, Path: path.String(), Msg: msgAnchor})
	}
	if n.Style&yaml.TaggedStyle != 0 {
		probs.add(Problem{Line: n.Line, Path: path.String(), Msg: msgTag})
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := path
			if k.Kind == yaml.ScalarNode {
				p = path.key(k.Value)
			}
			plain(k, p, probs)
			plain(v, p, probs)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			plain(c, path.index(i), probs)
		}
	}
}

// steps is a path kept as its steps ("users", "[2]", ".roles"), for a
// walk of a tree of any depth: a step costs only itself, and the path is
// written out (String) only when a problem needs it. A step appends to
// the walk's one array: siblings reuse the same place, each walked
// before the next, and no path is kept past its walk but as its String.
type steps []string

func (p steps) key(k string) steps {
	if len(p) == 0 {
		return append(p, k)
	}
	return append(p, "."+k)
}

func (p steps) index(i int) steps { return append(p, "["+strconv.Itoa(i)+"]") }

func (p steps) String() string { return strings.Join(p, "") }

// badByteLine returns the line of the first character of data, read as
// UTF-8, that YAML refuses (not UTF-8, or a control character), or 0. A
// file in UTF-16 (which the parser reads, by its BOM) is not looked at.
func badByteLine(data []byte) int {
	if bytes.HasPrefix(data, []byte{0xfe, 0xff}) || bytes.HasPrefix(data, []byte{0xff, 0xfe}) {
		return 0
	}
	line := 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		switch {
		case r == utf8.RuneError && size <= 1,
			r < 0x20 && r != '\t' && r != '\n' && r != '\r',
			r >= 0x7f && r < 0xa0 && r != 0x85,
			r == 0xfffe || r == 0xffff:
			return line
		case r == '\n':
			line++
		}
		data = data[size:]
	}
	return 0
}

// unknownAnchor reports whether err is the parser's refusal of an alias
// to no anchor, and that anchor's name.
func unknownAnchor(err error) (string, bool) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	name, ok := strings.CutPrefix(msg, "unknown anchor '")
	if !ok {
		return "", false
	}
	name, ok = strings.CutSuffix(name, "' referenced")
	return name, ok
}

// aliasLine finds the line of the alias *name in data (the parser does not
// say it), or 0.
func aliasLine(data []byte, name string) int {
	re, err := regexp.Compile(`(^|[\s\[{,:-])\*` + regexp.QuoteMeta(name) + `($|[\s\]},])`)
	if err != nil {
		return 0
	}
	for i, line := range bytes.Split(data, []byte("\n")) {
		if re.Match(line) {
			return i + 1
		}
	}
	return 0
}

// check walks the YAML tree against the Go type: unknown and duplicate
// keys, and scalars where a list or mapping belongs, are problems. It
// records each path's line. The tree holds no alias (plain refused them).
func check(n *yaml.Node, t reflect.Type, path string, lines map[string]int, probs *Problems) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	lines[path] = n.Line
	if isNull(n) {
		// Null reads as absent, and an absent true/false or number as
		// false or 0: "disabled:" whose value was commented out would
		// enable the person, and a bound read as 0 bound nothing.
		switch t.Kind() {
		case reflect.Bool:
			probs.add(Problem{Line: n.Line, Path: path, Msg: "has no value: write true or false (a key without one reads as false)"})
		case reflect.Int, reflect.Int64:
			probs.add(Problem{Line: n.Line, Path: path, Msg: "has no value: write a number (a key without one reads as 0)"})
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			probs.add(Problem{Line: n.Line, Path: path, Msg: "must be a mapping"})
			return
		}
		fields := map[string]reflect.Type{}
		refuseEmpty := map[string]bool{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if tag != "" && tag != "-" {
				fields[tag] = f.Type
				refuseEmpty[tag] = f.Tag.Get("empty") == "refuse"
			}
		}
		eachPair(n, func(k string) string { return join(path, k) }, probs, func(k, v *yaml.Node) {
			p := join(path, k.Value)
			ft, ok := fields[k.Value]
			if !ok {
				probs.add(Problem{Line: k.Line, Path: p,
					Msg: fmt.Sprintf("unknown field (known: %s)", strings.Join(sortedKeys(fields), ", "))})
				return
			}
			// A key left without a value reads as absent, and for these
			// absent means unrestricted (no cap, no condition, no
			// schema): a list whose entries were all commented out must
			// not open what it closed.
			if refuseEmpty[k.Value] && v.Kind == yaml.ScalarNode && (v.Tag == "!!null" || v.Tag == "!!str" && strings.TrimSpace(v.Value) == "") {
				probs.add(Problem{Line: k.Line, Path: p,
					Msg: "has no value: give one, or leave the key out (" + k.Value + " left out means no restriction)"})
				return
			}
			check(v, ft, p, lines, probs)
		})
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			probs.add(Problem{Line: n.Line, Path: path, Msg: "must be a list"})
			return
		}
		for i, c := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			if isNull(c) {
				// The decoder drops the entry without a word (a "-"
				// whose entry was commented out): a command would lose
				// an argument.
				lines[p] = c.Line
				probs.add(Problem{Line: c.Line, Path: p, Msg: "has no value: give one, or remove the entry"})
				continue
			}
			check(c, t.Elem(), p, lines, probs)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			probs.add(Problem{Line: n.Line, Path: path, Msg: "must be a mapping"})
			return
		}
		if t.Elem().Kind() == reflect.Interface { // input_schema: any YAML, read as JSON
			misread(n, steps{path}, probs)
			return
		}
		eachPair(n, func(k string) string { return join(path, k) }, probs, func(k, v *yaml.Node) {
			if isNull(k) {
				// The decoder drops the entry without a word: a role_map
				// entry for a group named null would map nothing.
				probs.add(Problem{Line: k.Line, Path: join(path, k.Value),
					Msg: `the key reads as null, not as a name: quote it ("null") if it is one`})
				return
			}
			check(v, t.Elem(), join(path, k.Value), lines, probs)
			lines[join(path, k.Value)] = k.Line
		})
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int64:
		if n.Kind != yaml.ScalarNode {
			probs.add(Problem{Line: n.Line, Path: path, Msg: "must be a single value"})
			return
		}
		isInt := t.Kind() == reflect.Int || t.Kind() == reflect.Int64
		switch {
		case isInt && leadingZero(n):
			probs.add(Problem{Line: n.Line, Path: path, Msg: msgLeadingZero})
		case isInt && n.Tag != "!!int":
			// The decoder would take 1.5 for 1, silently.
			probs.add(Problem{Line: n.Line, Path: path, Msg: "must be a whole number"})
		case t.Kind() == reflect.Bool && n.Tag != "!!bool" && !slices.Contains(yaml11Bools, n.Value):
			// The decoder's message names no key, and shows the start
			// of the value: a secret on the wrong line.
			probs.add(Problem{Line: n.Line, Path: path, Msg: "must be true or false, unquoted"})
		}
	}
}

// eachPair calls fn with each key of the mapping n and its value, in
// order, except a key given again and a merge key (<<): each is a
// problem, on its line and at keyPath(key), and is not passed on. A key
// given again is one problem per time it is given again.
// The keys seen are one set, so this costs the keys' number, where the
// YAML decoder's own check compares every key with every other (and
// reports every pair: a key repeated a few thousand times made millions
// of problems).
func eachPair(n *yaml.Node, keyPath func(key string) string, probs *Problems, fn func(k, v *yaml.Node)) {
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if isMerge(k) {
			probs.add(Problem{Line: k.Line, Path: keyPath(k.Value), Msg: msgMerge})
			continue
		}
		if k.Kind == yaml.ScalarNode {
			if seen[k.Value] {
				probs.add(Problem{Line: k.Line, Path: keyPath(k.Value), Msg: "appears twice"})
				continue
			}
			seen[k.Value] = true
		}
		fn(k, v)
	}
}

// msgMerge refuses a merge key. Without aliases (refused) a merge says
// nothing the keys written out would not, and the decoder's merge is not
// read as the file's other mappings are.
const msgMerge = "YAML merge keys (<<) are not supported: write the keys out (quote a key named <<)"

// isMerge reports whether k is a merge key: << unquoted.
func isMerge(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge"
}

// isNull reports whether n reads as null: ~, null, or nothing at all.
func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// yaml11Bools are the YAML 1.1 booleans the decoder reads into a bool
// field, quoted or not, besides true and false.
var yaml11Bools = []string{"y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "n", "N", "no", "No", "NO", "off", "Off", "OFF"}

// msgLeadingZero refuses a number written with a leading zero.
const msgLeadingZero = "a whole number with a leading zero would be read as octal (0120 as 80): write it without the zero (0o120 for octal)"

var leadingZeroRe = regexp.MustCompile(`^[-+]?0[0-9_]*[1-9][0-9_]*$`)

// leadingZero reports whether n is a number written with a leading zero
// (0120): the decoder reads it as octal (80), where YAML 1.2, JSON's
// readers and whoever wrote it read 120 (or refuse it). A quoted value is
// a string, read as written; 0o120 says octal.
func leadingZero(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 &&
		(n.Tag == "!!int" || n.Tag == "!!float") && leadingZeroRe.MatchString(n.Value)
}

// msgTimestamp refuses an unquoted date or time in a tool's input schema.
const msgTimestamp = "a date or time would be read as a timestamp (2024-01-01 as 2024-01-01T00:00:00Z): quote it"

// misread refuses a key given twice in n (a tool's input schema), and
// every value the decoder would read as other than written: a number with a leading zero, and an
// unquoted date or time, which it reads as a timestamp that JSON writes
// out in full (an enum of dates would then match no date as written). In
// the file's own fields a date is a string field's, kept as written.
func misread(n *yaml.Node, path steps, probs *Problems) {
	switch n.Kind {
	case yaml.ScalarNode:
		if leadingZero(n) {
			probs.add(Problem{Line: n.Line, Path: path.String(), Msg: msgLeadingZero})
		}
		if n.Tag == "!!timestamp" {
			probs.add(Problem{Line: n.Line, Path: path.String(), Msg: msgTimestamp})
		}
	case yaml.MappingNode:
		keyPath := func(k string) string { return path.key(k).String() }
		eachPair(n, keyPath, probs, func(k, v *yaml.Node) { misread(v, path.key(k.Value), probs) })
	case yaml.SequenceNode:
		for i, c := range n.Content {
			misread(c, path.index(i), probs)
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// line returns the line of path, or of its nearest known parent.
func (f *File) line(path string) int {
	for p := path; p != ""; {
		if l, ok := f.lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

func lineOf(msg string) int {
	var l int
	fmt.Sscanf(msg, "line %d:", &l)
	return l
}

func stripLine(msg string) string {
	if i := strings.Index(msg, ": "); strings.HasPrefix(msg, "line ") && i > 0 {
		return msg[i+2:]
	}
	return msg
}

func yamlErrLine(err error) int {
	return lineOf(strings.TrimPrefix(err.Error(), "yaml: "))
}

func cleanYAMLError(err error) string {
	return stripLine(strings.TrimPrefix(err.Error(), "yaml: "))
}
