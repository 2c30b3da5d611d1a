package capability

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/tether-ipc/tether"
)

// Set is a compiled set of capabilities. It is immutable once built and safe
// for concurrent use. A nil *Set, or one without capabilities, means "no
// access control configured": Check allows every call (Tether's brownfield
// default). See Configured.
type Set struct {
	caps     []*capability
	sets     []string            // permission-set identifiers, sorted
	commands map[string]*cmdRule // by command name with '_' as '-'
	// pluginDefaults are the grants of <plugin>:default, by plugin: they
	// cover the commands the server says are in the plugin's default set
	// (tether.Call.PluginDefault).
	pluginDefaults map[string]*cmdRule
	events         [3]eventRule // emit, emit-to, listen
	refs           []cmdRef     // every allow-/deny-<command> reference, for Validate
}

// Decision is the outcome of an allowed call.
type Decision struct {
	// Configured is false when the Set has no capabilities and the call was
	// allowed without a check.
	Configured bool
	// Capability and Permission name the first capability and permission
	// that granted the call.
	Capability string
	Permission string
	// Scopes are the allow and deny scopes of every permission that granted
	// a command, from every capability that applies; nil if none had scopes.
	// They are shared between calls: treat them as read-only. Emit and
	// listen calls are checked against their event scopes here and carry no
	// scopes.
	Scopes *tether.Scopes
}

type capability struct {
	id, file string
	labels   []*glob // windows and webviews
	local    bool
	remote   []*glob
}

type cmdRule struct {
	allows, denies []*cmdGrant
}

type cmdGrant struct {
	cap    *capability
	perm   string
	scopes *tether.Scopes // nil when the permission has no scopes
}

type eventRule struct {
	allows, denies []*eventGrant
}

type eventGrant struct {
	cap    *capability
	perm   string
	events []eventScope // the events it covers; nil: every event
	except []eventScope // events its deny scopes deny
}

// eventScope is one {"event": …} scope, or for emit-to {"event": …,
// "target": …}; a nil glob matches anything.
type eventScope struct {
	event, target *glob
}

func (sc eventScope) match(event, target string) bool {
	return (sc.event == nil || sc.event.match(event)) && (sc.target == nil || sc.target.match(target))
}

func matchScopes(ss []eventScope, event, target string) bool {
	for _, sc := range ss {
		if sc.match(event, target) {
			return true
		}
	}
	return false
}

type cmdRef struct {
	file, field, id, name string
	deny                  bool
	plugin                string // set for <plugin>:default: name is empty
}

// corePlugins are the plugins whose defaults core:default grants (besides
// the event permissions), as Tauri's core:default does.
var corePlugins = []string{"app", "resources", "path"}

const (
	evEmit   = iota // an emit to every listener
	evEmitTo        // an emit to the listeners of one client label
	evListen
)

// eventPerm describes a built-in event permission identifier.
type eventPerm struct {
	which int // evEmit, evEmitTo or evListen; -1 for a no-op
	deny  bool
	both  bool // a default set granting emit and listen
}

// eventPerms are the built-in event permissions and their Tauri aliases.
// Tether has no separate emit_to or unlisten calls: emit-to maps to emit,
// and unlisten (always allowed: it only drops a subscription) is a no-op.
var eventPerms = map[string]eventPerm{
	"allow-emit":                {which: evEmit},
	"deny-emit":                 {which: evEmit, deny: true},
	"allow-listen":              {which: evListen},
	"deny-listen":               {which: evListen, deny: true},
	"core:event:allow-emit":     {which: evEmit},
	"core:event:deny-emit":      {which: evEmit, deny: true},
	"allow-emit-to":             {which: evEmitTo},
	"deny-emit-to":              {which: evEmitTo, deny: true},
	"core:event:allow-emit-to":  {which: evEmitTo},
	"core:event:deny-emit-to":   {which: evEmitTo, deny: true},
	"core:event:allow-listen":   {which: evListen},
	"core:event:deny-listen":    {which: evListen, deny: true},
	"core:event:allow-unlisten": {which: -1},
	"core:event:deny-unlisten":  {which: -1},
	"core:event:default":        {both: true},
	"core:default":              {both: true},
}

func isEventPermID(id string) bool {
	_, ok := eventPerms[id]
	return ok
}

func compile(p *parser, raws []*rawCapability, rawSets []*rawSet) *Set {
	s := &Set{commands: make(map[string]*cmdRule), pluginDefaults: make(map[string]*cmdRule)}

	setByID := make(map[string]*rawSet)
	for _, rs := range rawSets {
		if prev, dup := setByID[rs.identifier]; dup {
			p.errf(rs.file, "identifier", "duplicate permission set %q (also in %s)", rs.identifier, prev.file)
			continue
		}
		setByID[rs.identifier] = rs
		s.sets = append(s.sets, rs.identifier)
	}
	sort.Strings(s.sets)

	c := &compiler{p: p, s: s, sets: setByID, state: make(map[string]int), seenRef: make(map[string]bool)}
	// Check every set once, so that its errors are reported once and
	// expansion below can trust it.
	for _, id := range s.sets {
		c.checkSet(setByID[id], nil)
	}

	capByID := make(map[string]*capability)
	for _, rc := range raws {
		if prev, dup := capByID[rc.identifier]; dup {
			p.errf(rc.file, "identifier", "duplicate capability %q (also in %s)", rc.identifier, prev.file)
			continue
		}
		cp := &capability{id: rc.identifier, file: rc.file, local: rc.local}
		capByID[rc.identifier] = cp
		for i, w := range rc.windows {
			c.label(cp, fmt.Sprintf("windows[%d]", i), w)
		}
		for i, w := range rc.webviews {
			c.label(cp, fmt.Sprintf("webviews[%d]", i), w)
		}
		for i, u := range rc.remote {
			c.origin(cp, fmt.Sprintf("remote.urls[%d]", i), u)
		}
		for _, rp := range rc.permissions {
			c.grant(cp, rp, nil)
		}
		s.caps = append(s.caps, cp)
	}
	return s
}

type compiler struct {
	p       *parser
	s       *Set
	sets    map[string]*rawSet
	state   map[string]int // set checking: 1 in progress, 2 done
	seenRef map[string]bool
}

func (c *compiler) label(cp *capability, field, pattern string) {
	if pattern == "" {
		c.p.errf(cp.file, field, "empty label pattern")
		return
	}
	g, err := compileGlob(pattern, 0)
	if err != nil {
		c.p.errf(cp.file, field, "%q: %v", pattern, err)
		return
	}
	cp.labels = append(cp.labels, g)
}

// origin compiles a remote URL pattern. Calls carry only an origin
// (scheme://host[:port]), so a pattern may end in "/" or "/*" (dropped) but
// may not have a longer path.
func (c *compiler) origin(cp *capability, field, pattern string) {
	pat := strings.TrimSuffix(strings.TrimSuffix(pattern, "/*"), "/")
	scheme, rest, ok := strings.Cut(pat, "://")
	if !ok || scheme == "" || rest == "" {
		c.p.errf(cp.file, field, "%q: expected an origin pattern such as \"https://*.example.com\"", pattern)
		return
	}
	if strings.Contains(rest, "/") {
		c.p.errf(cp.file, field, "%q: origin patterns cannot have a path (calls carry only an origin)", pattern)
		return
	}
	g, err := compileGlob(pat, '/')
	if err != nil {
		c.p.errf(cp.file, field, "%q: %v", pattern, err)
		return
	}
	cp.remote = append(cp.remote, g)
}

// checkSet validates a permission set and its nested sets, reporting
// cycles.
func (c *compiler) checkSet(rs *rawSet, chain []string) {
	switch c.state[rs.identifier] {
	case 2:
		return
	case 1:
		c.p.errf(rs.file, "permissions", "permission sets form a cycle: %s", strings.Join(append(chain, rs.identifier), " -> "))
		return
	}
	c.state[rs.identifier] = 1
	chain = append(chain, rs.identifier)
	for _, rp := range rs.permissions {
		if nested, ok := c.sets[rp.id]; ok {
			if rp.object {
				c.p.errf(rp.file, rp.field, "permission set %q cannot carry scopes; put them on its permissions", rp.id)
			}
			c.checkSet(nested, chain)
			continue
		}
		c.grant(nil, rp, nil) // validation only
	}
	c.state[rs.identifier] = 2
}

// grant adds rp to cp's grants. With cp nil it only validates rp.
func (c *compiler) grant(cp *capability, rp rawPerm, expanding map[string]bool) {
	if ep, ok := eventPerms[rp.id]; ok {
		c.eventGrant(cp, rp, ep)
		if rp.id == "core:default" && cp != nil {
			for _, p := range corePlugins {
				c.pluginDefault(cp, rp, p, true)
			}
		}
		return
	}
	if rs, ok := c.sets[rp.id]; ok {
		if cp == nil {
			return // checked by checkSet
		}
		if rp.object {
			c.p.errf(rp.file, rp.field, "permission set %q cannot carry scopes; put them on its permissions", rp.id)
			return
		}
		if expanding[rs.identifier] || c.state[rs.identifier] != 2 {
			return // a cycle, already reported
		}
		if expanding == nil {
			expanding = make(map[string]bool)
		}
		expanding[rs.identifier] = true
		for _, nested := range rs.permissions {
			c.grant(cp, nested, expanding)
		}
		delete(expanding, rs.identifier)
		return
	}
	var name string
	deny := false
	id, prefix := rp.id, ""
	if plugin, rest, ok := pluginPermission(rp.id); ok {
		if rest == "default" {
			c.pluginDefault(cp, rp, plugin, false)
			return
		}
		id, prefix = rest, tether.PluginPrefix+plugin+"|"
	}
	switch {
	case strings.HasPrefix(id, "allow-"):
		name = id[len("allow-"):]
	case strings.HasPrefix(id, "deny-"):
		name, deny = id[len("deny-"):], true
	default:
		c.p.errf(rp.file, rp.field, "unknown permission %q%s", rp.id, suggest(rp.id, c.knownNonCommand()))
		return
	}
	if !validCommandName(name) {
		c.p.errf(rp.file, rp.field, "%q: a command permission is allow-<command> or deny-<command> (<plugin>:allow-<command> for a plugin's), with letters, digits and hyphens", rp.id)
		return
	}
	name = prefix + name
	if deny && rp.object && (len(rp.allow) > 0 || len(rp.deny) > 0) {
		c.p.errf(rp.file, rp.field, "%q denies the command outright; scopes on it have no effect", rp.id)
		return
	}
	if key := rp.file + "\x00" + rp.field; !c.seenRef[key] {
		c.seenRef[key] = true
		c.s.refs = append(c.s.refs, cmdRef{file: rp.file, field: rp.field, id: rp.id, name: name, deny: deny})
	}
	if cp == nil {
		return
	}
	rule := c.s.commands[name]
	if rule == nil {
		rule = &cmdRule{}
		c.s.commands[name] = rule
	}
	g := &cmdGrant{cap: cp, perm: rp.id}
	if len(rp.allow) > 0 || len(rp.deny) > 0 {
		g.scopes = &tether.Scopes{Allow: rp.allow, Deny: rp.deny}
	}
	if deny {
		rule.denies = append(rule.denies, g)
	} else {
		rule.allows = append(rule.allows, g)
	}
}

// pluginPermission splits a plugin's permission id, "store:allow-get" or
// Tauri's core form "core:app:allow-version", into the plugin and the rest.
func pluginPermission(id string) (plugin, rest string, ok bool) {
	id = strings.TrimPrefix(id, "core:")
	plugin, rest, ok = strings.Cut(id, ":")
	if !ok || plugin == "" || rest == "" || !validCommandName(plugin) {
		return "", "", false
	}
	return plugin, rest, true
}

// pluginDefault adds cp's grant of plugin's default set. implied marks a
// grant that core:default makes: it names no plugin the server must have.
func (c *compiler) pluginDefault(cp *capability, rp rawPerm, plugin string, implied bool) {
	if rp.object && (len(rp.allow) > 0 || len(rp.deny) > 0) && !implied {
		c.p.errf(rp.file, rp.field, "%q is a permission set; scopes go on its permissions (%s:allow-<command>)", rp.id, plugin)
		return
	}
	if key := rp.file + "\x00" + rp.field; !implied && !c.seenRef[key] {
		c.seenRef[key] = true
		c.s.refs = append(c.s.refs, cmdRef{file: rp.file, field: rp.field, id: rp.id, plugin: plugin})
	}
	if cp == nil {
		return
	}
	rule := c.s.pluginDefaults[plugin]
	if rule == nil {
		rule = &cmdRule{}
		c.s.pluginDefaults[plugin] = rule
	}
	rule.allows = append(rule.allows, &cmdGrant{cap: cp, perm: rp.id})
}

func (c *compiler) eventGrant(cp *capability, rp rawPerm, ep eventPerm) {
	if ep.which < 0 || ep.both {
		if rp.object && (len(rp.allow) > 0 || len(rp.deny) > 0) {
			c.p.errf(rp.file, rp.field, "%q takes no scopes", rp.id)
		}
		if cp != nil && ep.both {
			for which := range c.s.events {
				r := &c.s.events[which]
				r.allows = append(r.allows, &eventGrant{cap: cp, perm: rp.id})
			}
		}
		return
	}
	g := &eventGrant{cap: cp, perm: rp.id}
	ok := true
	shape := `an event scope is {"event": "<name or glob>"}`
	if ep.which == evEmitTo {
		shape = `an emit-to scope is {"event": "<name or glob>", "target": "<label or glob>"}, with either or both`
	}
	compileOne := func(field, key string, v any) (*glob, bool) {
		s, isStr := v.(string)
		if !isStr || !validEventGlob(s) {
			c.p.errf(rp.file, field, "%q: %s names use letters, digits and - / : _ (plus * and ? in patterns)", fmt.Sprint(v), key)
			return nil, false
		}
		g, err := compileGlob(s, 0)
		if err != nil {
			c.p.errf(rp.file, field, "%q: %v", s, err)
			return nil, false
		}
		return g, true
	}
	compileEvents := func(list string, scopes []map[string]any) []eventScope {
		var out []eventScope
		for i, sc := range scopes {
			field := fmt.Sprintf("%s.%s[%d]", rp.field, list, i)
			ev, hasEvent := sc["event"]
			tg, hasTarget := sc["target"]
			n := 0
			if hasEvent {
				n++
			}
			if hasTarget {
				n++
			}
			if n == 0 || n != len(sc) || hasTarget && ep.which != evEmitTo {
				c.p.errf(rp.file, field, "%s", shape)
				ok = false
				continue
			}
			var es eventScope
			good := true
			if hasEvent {
				es.event, good = compileOne(field, "event", ev)
			}
			if hasTarget && good {
				es.target, good = compileOne(field, "target", tg)
			}
			if !good {
				ok = false
				continue
			}
			out = append(out, es)
		}
		return out
	}
	g.events = compileEvents("allow", rp.allow)
	g.except = compileEvents("deny", rp.deny)
	if !ok || cp == nil {
		return
	}
	r := &c.s.events[ep.which]
	if ep.deny {
		// A deny permission covers the events named in either list, or
		// every event if it has no scopes.
		g.events, g.except = append(g.events, g.except...), nil
		r.denies = append(r.denies, g)
	} else {
		r.allows = append(r.allows, g)
	}
}

func (c *compiler) knownNonCommand() []string {
	known := append([]string(nil), c.s.sets...)
	for id := range eventPerms {
		known = append(known, id)
	}
	sort.Strings(known)
	return known
}

func validCommandName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-') {
			return false
		}
	}
	return true
}

func validEventGlob(ev string) bool {
	if ev == "" {
		return false
	}
	for i := 0; i < len(ev); i++ {
		b := ev[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || strings.IndexByte("-/:_*?", b) >= 0) {
			return false
		}
	}
	return true
}

// Configured reports whether s holds at least one capability. When it does
// not (including a nil s), no access control is configured and Check allows
// every call.
func (s *Set) Configured() bool { return s != nil && len(s.caps) > 0 }

// Validate checks the Set against the server's command names (as registered:
// "read_file"). It reports every allow-<command> or deny-<command> that names
// no command, with the file, the field and a suggestion; and command names
// that would share a permission ("a_b" and "a-b") or clash with the event
// permissions ("emit", "listen"). The server calls it once at start.
//
// Validate matters for safety: a misspelt deny-<command> denies nothing.
func (s *Set) Validate(commands []string) error {
	if s == nil {
		return nil
	}
	var errs []error
	known := make(map[string]string, len(commands))
	plugins := map[string]bool{}
	for _, cmd := range commands {
		if p, _, ok := tether.SplitPluginCommand(cmd); ok {
			plugins[p] = true
		}
		key := strings.ReplaceAll(cmd, "_", "-")
		if prev, dup := known[key]; dup && prev != cmd {
			errs = append(errs, fmt.Errorf("capability: commands %q and %q share the permissions allow-%s and deny-%s", prev, cmd, key, key))
		}
		if key == "emit" || key == "listen" {
			errs = append(errs, fmt.Errorf("capability: command %q clashes with the event permissions allow-%s and deny-%s", cmd, key, key))
		}
		known[key] = cmd
	}
	var candidates []string
	for _, r := range s.refs {
		if r.plugin != "" {
			if !plugins[r.plugin] {
				errs = append(errs, &FieldError{File: r.file, Field: r.field,
					Err: fmt.Errorf("unknown permission %q: no plugin %q is registered", r.id, r.plugin)})
			}
			continue
		}
		if _, ok := known[r.name]; ok {
			continue
		}
		if candidates == nil {
			for key := range known {
				if p, cmd, ok := tether.SplitPluginCommand(key); ok {
					candidates = append(candidates, p+":allow-"+cmd, p+":deny-"+cmd)
					continue
				}
				candidates = append(candidates, "allow-"+key, "deny-"+key)
			}
			for p := range plugins {
				candidates = append(candidates, p+":default")
			}
			candidates = append(candidates, s.sets...)
			for id := range eventPerms {
				candidates = append(candidates, id)
			}
			sort.Strings(candidates)
		}
		errs = append(errs, &FieldError{File: r.file, Field: r.field,
			Err: fmt.Errorf("unknown permission %q%s", r.id, suggest(r.id, candidates))})
	}
	return errors.Join(errs...)
}

// Capabilities returns the identifiers of the capabilities in s, in file
// order.
func (s *Set) Capabilities() []string {
	if s == nil {
		return nil
	}
	ids := make([]string, len(s.caps))
	for i, c := range s.caps {
		ids[i] = c.id
	}
	return ids
}

// Check decides whether call may proceed. Deny wins: a call is denied if any
// capability that applies to it denies it; otherwise it is allowed if at
// least one such capability grants it, and denied if none does. A capability
// applies to a call when one of its windows or webviews globs matches the
// call's ClientLabel (a call without a label matches none) and its origin
// rules accept the call's Origin.
//
// Invoke and channel calls are checked against allow-<command> and
// deny-<command>; listen calls against the listen permissions, each event
// of a listen call on its own (a listen to "*" only if every event is
// granted and none denied); emits against the emit permissions, and an emit
// to a target label (Call.Target) against the emit-to permissions and the
// emit denies as well. A denial is a *tether.Error with code
// permission_denied that says what was denied, for which client, and by
// which capability if one denied it explicitly.
//
// If s is not Configured, Check allows every call.
func (s *Set) Check(call *tether.Call) (Decision, error) {
	if !s.Configured() {
		return Decision{}, nil
	}
	if call == nil {
		return Decision{Configured: true}, tether.NewError(tether.CodePermissionDenied, "capability: no call to check")
	}
	switch call.Kind {
	case tether.KindInvoke, tether.KindChannel:
		return s.checkCommand(call)
	case tether.KindEmit:
		if call.Target != "" {
			return s.checkEmitTo(call)
		}
		return s.checkEvent(call, evEmit, call.Name)
	case tether.KindListen:
		if len(call.Events) == 0 {
			return s.checkEvent(call, evListen, call.Name)
		}
		var d Decision
		for _, ev := range call.Events {
			var err error
			if d, err = s.checkEvent(call, evListen, ev); err != nil {
				return d, err
			}
		}
		return d, nil
	}
	return Decision{Configured: true}, tether.Errorf(tether.CodePermissionDenied, "capability: unknown call kind %d", call.Kind)
}

func (s *Set) lookup(name string) *cmdRule {
	if strings.IndexByte(name, '_') < 0 {
		return s.commands[name]
	}
	var buf [64]byte
	if len(name) > len(buf) {
		return s.commands[strings.ReplaceAll(name, "_", "-")]
	}
	b := buf[:len(name)]
	for i := 0; i < len(name); i++ {
		if name[i] == '_' {
			b[i] = '-'
		} else {
			b[i] = name[i]
		}
	}
	return s.commands[string(b)] // no allocation for a map index
}

func (s *Set) checkCommand(call *tether.Call) (Decision, error) {
	d := Decision{Configured: true}
	rule := s.lookup(call.Name)
	if call.Plugin != "" && call.PluginDefault {
		if pd := s.pluginDefaults[call.Plugin]; pd != nil {
			rule = withDefaults(rule, pd)
		}
	}
	if rule == nil {
		return d, denyf(call, "command", call.Name, nil, "")
	}
	for _, g := range rule.denies {
		if g.cap.applies(call) {
			return d, denyf(call, "command", call.Name, g.cap, g.perm)
		}
	}
	var nScoped, nAllow, nDeny int
	for _, g := range rule.allows {
		if !g.cap.applies(call) {
			continue
		}
		if d.Capability == "" {
			d.Capability, d.Permission = g.cap.id, g.perm
		}
		if g.scopes != nil {
			nScoped++
			nAllow += len(g.scopes.Allow)
			nDeny += len(g.scopes.Deny)
			d.Scopes = g.scopes
		}
	}
	if nScoped > 1 {
		// Several grants carry scopes: merge them into a new value, sized
		// once, leaving the stored ones untouched.
		d.Scopes = &tether.Scopes{Allow: make([]map[string]any, 0, nAllow), Deny: make([]map[string]any, 0, nDeny)}
		for _, g := range rule.allows {
			if g.scopes != nil && g.cap.applies(call) {
				d.Scopes.Allow = append(d.Scopes.Allow, g.scopes.Allow...)
				d.Scopes.Deny = append(d.Scopes.Deny, g.scopes.Deny...)
			}
		}
	}
	if d.Capability == "" {
		return d, denyf(call, "command", call.Name, nil, "")
	}
	return d, nil
}

// withDefaults is rule with the grants of a plugin's default set added to
// its allows (a new rule: the stored ones stay as they are).
func withDefaults(rule, defaults *cmdRule) *cmdRule {
	if rule == nil {
		return defaults
	}
	return &cmdRule{denies: rule.denies, allows: append(append(make([]*cmdGrant, 0, len(rule.allows)+len(defaults.allows)), rule.allows...), defaults.allows...)}
}

// wildcard is bus.Wildcard: a listen to it receives every event.
const wildcard = "*"

func (s *Set) checkEvent(call *tether.Call, which int, event string) (Decision, error) {
	what := "emit of event"
	if which == evListen {
		what = "listen to event"
	}
	r := &s.events[which]
	if event == wildcard {
		return s.checkEvery(call, r, what)
	}
	if err := r.denied(call, what, event, ""); err != nil {
		return Decision{Configured: true}, err
	}
	return r.granted(call, what, event, "")
}

// checkEmitTo decides an emit to one client label: the emit denies hold
// (an event denied to emit is denied to emit to anyone), then the emit-to
// permissions decide.
func (s *Set) checkEmitTo(call *tether.Call) (Decision, error) {
	what := fmt.Sprintf("emit to %q of event", clip(call.Target))
	if err := s.events[evEmit].denied(call, what, call.Name, ""); err != nil {
		return Decision{Configured: true}, err
	}
	r := &s.events[evEmitTo]
	if err := r.denied(call, what, call.Name, call.Target); err != nil {
		return Decision{Configured: true}, err
	}
	return r.granted(call, what, call.Name, call.Target)
}

// denied returns the denial of the first deny permission, or deny scope
// of an allow, that applies to call and matches the event (and target).
func (r *eventRule) denied(call *tether.Call, what, event, target string) error {
	for _, g := range r.denies {
		if g.cap.applies(call) && (g.events == nil || matchScopes(g.events, event, target)) {
			return denyf(call, what, event, g.cap, g.perm)
		}
	}
	for _, g := range r.allows {
		if g.cap.applies(call) && matchScopes(g.except, event, target) {
			return denyf(call, what, event, g.cap, g.perm+" deny scope")
		}
	}
	return nil
}

// granted returns the first allow that applies to call and covers the
// event (and target), or a denial if none does.
func (r *eventRule) granted(call *tether.Call, what, event, target string) (Decision, error) {
	d := Decision{Configured: true}
	for _, g := range r.allows {
		if g.cap.applies(call) && (g.events == nil || matchScopes(g.events, event, target)) {
			d.Capability, d.Permission = g.cap.id, g.perm
			return d, nil
		}
	}
	return d, denyf(call, what, event, nil, "")
}

// checkEvery decides a call for every event at once (a listen to "*"): it
// is allowed only if some permission that applies grants every event and
// no deny rule that applies — a deny permission, or a deny scope of an
// allow — refuses any. Matching the deny patterns against the literal "*"
// would let a listener receive what they deny.
func (s *Set) checkEvery(call *tether.Call, r *eventRule, what string) (Decision, error) {
	d := Decision{Configured: true}
	for _, g := range r.denies {
		if g.cap.applies(call) {
			return d, denyf(call, what, wildcard, g.cap, g.perm+", which denies some events: listen to events by name")
		}
	}
	for _, g := range r.allows {
		if g.cap.applies(call) && len(g.except) > 0 {
			return d, denyf(call, what, wildcard, g.cap, g.perm+" deny scope, which denies some events: listen to events by name")
		}
	}
	for _, g := range r.allows {
		if g.cap.applies(call) && (g.events == nil || coversAll(g.events)) {
			d.Capability, d.Permission = g.cap.id, g.perm
			return d, nil
		}
	}
	return d, denyf(call, what, wildcard, nil, "")
}

// coversAll reports whether one of ss matches every event.
func coversAll(ss []eventScope) bool {
	for _, sc := range ss {
		if sc.target == nil && (sc.event == nil || sc.event.kind == globAll) {
			return true
		}
	}
	return false
}

func denyf(call *tether.Call, what, name string, by *capability, perm string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %q ", what, clip(name))
	if by != nil {
		b.WriteString("denied for ")
	} else {
		b.WriteString("not allowed for ")
	}
	if call.ClientLabel == "" {
		b.WriteString("unlabelled client")
	} else {
		fmt.Fprintf(&b, "client %q", clip(call.ClientLabel))
	}
	if call.Origin != "" {
		fmt.Fprintf(&b, " from origin %q", clip(call.Origin))
	}
	if by != nil {
		fmt.Fprintf(&b, ": denied by capability %q (%s)", by.id, perm)
	}
	return tether.NewError(tether.CodePermissionDenied, b.String())
}

// applies reports whether the capability covers the call's client.
func (c *capability) applies(call *tether.Call) bool {
	if call.ClientLabel == "" || !matchAny(c.labels, call.ClientLabel) {
		return false
	}
	if c.local && isLocalOrigin(call.Origin) {
		return true
	}
	return call.Origin != "" && matchAny(c.remote, call.Origin)
}

// isLocalOrigin reports whether origin is the app's own: empty (a native
// client, not a browser), or a loopback origin such as
// "http://localhost:1420", "http://tauri.localhost", "http://127.0.0.1:8080"
// or "http://[::1]:3000", or the tauri:// scheme.
func isLocalOrigin(origin string) bool {
	if origin == "" {
		return true
	}
	scheme, host, ok := strings.Cut(origin, "://")
	if !ok || strings.ContainsAny(host, "/@?#") {
		return false
	}
	if scheme == "tauri" && host == "localhost" {
		return true
	}
	if scheme != "http" && scheme != "https" {
		return false
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else {
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	host = strings.ToLower(host)
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
