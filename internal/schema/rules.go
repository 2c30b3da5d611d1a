package schema

import (
	"fmt"
	"math"
	"reflect"
	"regexp"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// rulesOf returns the protovalidate rules of a field, or nil.
func rulesOf(f protoreflect.FieldDescriptor) *validate.FieldRules {
	opts := f.Options()
	if opts == nil || !proto.HasExtension(opts, validate.E_Field) {
		return nil
	}
	r, _ := proto.GetExtension(opts, validate.E_Field).(*validate.FieldRules)
	return r
}

// Required reports whether a field's protovalidate rules require it to be
// set (`(buf.validate.field).required = true`).
func Required(f protoreflect.FieldDescriptor) bool { return rulesOf(f).GetRequired() }

// zeroRejected reports whether a field without presence must be sent
// because its rules reject its zero value — what protojson reads when the
// field is left out (a string with min_len 1, a number with gte 1, a list
// with min_items 1, …).
func zeroRejected(f protoreflect.FieldDescriptor) bool {
	r := rulesOf(f)
	if r == nil || f.HasPresence() || r.GetIgnore() != validate.Ignore_IGNORE_UNSPECIFIED {
		return false
	}
	kw := obj{}
	addRules(kw, f, r)
	num := func(k string) (float64, bool) {
		switch v := kw[k].(type) {
		case int32:
			return float64(v), true
		case int64:
			return float64(v), true
		case uint32:
			return float64(v), true
		case uint64:
			return float64(v), true
		case float64:
			return v, true
		}
		return 0, false
	}
	gt := func(k string, than float64) bool { v, ok := num(k); return ok && v > than }
	ge := func(k string, than float64) bool { v, ok := num(k); return ok && v >= than }
	lt := func(k string, than float64) bool { v, ok := num(k); return ok && v < than }
	le := func(k string, than float64) bool { v, ok := num(k); return ok && v <= than }
	if f.IsList() {
		return ge("minItems", 1)
	}
	if f.IsMap() {
		return ge("minProperties", 1)
	}
	zero := f.Default().Interface() // the zero value of a scalar
	if f.Kind() == protoreflect.EnumKind {
		zero = string(f.Enum().Values().ByNumber(f.Default().Enum()).Name())
	}
	if c, ok := kw["const"]; ok && fmt.Sprint(c) != fmt.Sprint(zero) {
		return true
	}
	if in, ok := kw["enum"]; ok {
		found := false
		l := reflect.ValueOf(in)
		for i := 0; i < l.Len(); i++ {
			found = found || fmt.Sprint(l.Index(i).Interface()) == fmt.Sprint(zero)
		}
		if !found {
			return true
		}
	}
	switch f.Kind() {
	case protoreflect.StringKind:
		if ge("minLength", 1) {
			return true
		}
		if p, ok := kw["pattern"].(string); ok {
			re, err := regexp.Compile(p)
			return err == nil && !re.MatchString("")
		}
		return false
	case protoreflect.BoolKind, protoreflect.EnumKind, protoreflect.BytesKind, protoreflect.MessageKind, protoreflect.GroupKind:
		return false
	}
	return gt("minimum", 0) || lt("maximum", 0) || ge("exclusiveMinimum", 0) || le("exclusiveMaximum", 0)
}

// Rules returns the JSON Schema keywords that a field's protovalidate rules
// amount to (minLength, maxLength, pattern, format, minimum, maximum,
// exclusiveMinimum, exclusiveMaximum, const, enum, minItems, maxItems,
// uniqueItems, minProperties, maxProperties), for the field's own value;
// rules on list items and map values are in the schemas of items and
// additionalProperties. Rules JSON Schema cannot say (CEL expressions,
// prefixes, byte lengths) are left out: the server still checks them.
func Rules(f protoreflect.FieldDescriptor) map[string]any {
	kw := obj{}
	addRules(kw, f, rulesOf(f))
	return kw
}

func withRules(s obj, f protoreflect.FieldDescriptor, r *validate.FieldRules) obj {
	addRules(s, f, r)
	return s
}

// addRules adds the keywords of the rules r to s. f gives the enum a rule on
// an enum names; r applies to the value s describes.
func addRules(s obj, f protoreflect.FieldDescriptor, r *validate.FieldRules) {
	if r == nil {
		return
	}
	m := r.ProtoReflect()
	which := m.WhichOneof(m.Descriptor().Oneofs().ByName("type"))
	if which == nil {
		return
	}
	sub := m.Get(which).Message()
	get := func(name protoreflect.Name) (protoreflect.Value, bool) {
		fd := sub.Descriptor().Fields().ByName(name)
		if fd == nil || !sub.Has(fd) {
			return protoreflect.Value{}, false
		}
		return sub.Get(fd), true
	}
	set := func(key string, name protoreflect.Name) {
		if v, ok := get(name); ok {
			if n, ok := number(v); ok {
				s[key] = n
			}
		}
	}
	switch which.Name() {
	case "string":
		set("minLength", "min_len")
		set("maxLength", "max_len")
		if v, ok := get("len"); ok {
			s["minLength"], s["maxLength"] = v.Uint(), v.Uint()
		}
		if v, ok := get("pattern"); ok {
			s["pattern"] = v.String()
		}
		if v, ok := get("const"); ok {
			s["const"] = v.String()
		}
		if v, ok := get("in"); ok {
			s["enum"] = stringList(v.List())
		}
		for name, format := range stringFormats {
			if v, ok := get(name); ok && v.Bool() {
				s["format"] = format
			}
		}
	case "enum":
		if f.Enum() == nil {
			return
		}
		vals := f.Enum().Values()
		name := func(n int32) string {
			if v := vals.ByNumber(protoreflect.EnumNumber(n)); v != nil {
				return string(v.Name())
			}
			return ""
		}
		if v, ok := get("const"); ok {
			s["const"] = name(int32(v.Int()))
		}
		if v, ok := get("in"); ok {
			var names []string
			for i := 0; i < v.List().Len(); i++ {
				if n := name(int32(v.List().Get(i).Int())); n != "" {
					names = append(names, n)
				}
			}
			s["enum"] = names
		}
	case "repeated":
		set("minItems", "min_items")
		set("maxItems", "max_items")
		if v, ok := get("unique"); ok && v.Bool() {
			s["uniqueItems"] = true
		}
	case "map":
		set("minProperties", "min_pairs")
		set("maxProperties", "max_pairs")
	case "bool":
		if v, ok := get("const"); ok {
			s["const"] = v.Bool()
		}
	case "float", "double", "int32", "int64", "uint32", "uint64", "sint32", "sint64",
		"fixed32", "fixed64", "sfixed32", "sfixed64":
		set("minimum", "gte")
		set("maximum", "lte")
		set("exclusiveMinimum", "gt")
		set("exclusiveMaximum", "lt")
		set("const", "const")
		if v, ok := get("in"); ok {
			var in []any
			for i := 0; i < v.List().Len(); i++ {
				if n, ok := number(v.List().Get(i)); ok {
					in = append(in, n)
				}
			}
			s["enum"] = in
		}
	}
}

// stringFormats maps protovalidate's well-known string rules to JSON
// Schema formats.
var stringFormats = map[protoreflect.Name]string{
	"email":    "email",
	"hostname": "hostname",
	"ipv4":     "ipv4",
	"ipv6":     "ipv6",
	"uri":      "uri",
	"uri_ref":  "uri-reference",
	"uuid":     "uuid",
}

// number returns a rule's numeric value for JSON, false for one JSON cannot
// hold (NaN, infinities).
func number(v protoreflect.Value) (any, bool) {
	switch x := v.Interface().(type) {
	case int32, int64, uint32, uint64:
		return x, true
	case float32:
		f := float64(x)
		return f, !math.IsNaN(f) && !math.IsInf(f, 0)
	case float64:
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	}
	return nil, false
}

func stringList(l protoreflect.List) []string {
	out := make([]string, l.Len())
	for i := range out {
		out[i] = l.Get(i).String()
	}
	return out
}
