package protodoc_test

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"

	demov1 "github.com/tether-ipc/tether/gen/demo/v1"
	"github.com/tether-ipc/tether/protodoc"
)

func TestCommentFromRegistration(t *testing.T) {
	// gen/demo/v1/demo_tether.pb.go registered the demo's comments.
	greet := demov1.File_demo_v1_demo_proto.Services().ByName("Demo").Methods().ByName("Greet")
	if got := protodoc.Comment(greet); got != "Greet says hello." {
		t.Errorf("Comment(Greet) = %q", got)
	}
	if got := protodoc.Comment(nil); got != "" {
		t.Errorf("Comment(nil) = %q", got)
	}
	d := demov1.File_demo_v1_demo_proto.Messages().ByName("GreetRequest")
	if got := protodoc.Comment(d); got != "GreetRequest is greet's argument." {
		t.Errorf("Comment(GreetRequest) = %q", got)
	}
}

func TestClean(t *testing.T) {
	for raw, want := range map[string]string{
		" Greet says hello.\n":                "Greet says hello.",
		"\n One.\n   indented\n\n Two.  \n\n": "One.\n  indented\n\nTwo.",
		"":                                    "",
	} {
		if got := protodoc.Clean(raw); got != want {
			t.Errorf("Clean(%q) = %q, want %q", raw, got, want)
		}
	}
}

// Registering a file again replaces what it registered before.
func TestRegisterReplaces(t *testing.T) {
	fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name: proto.String("x/test.proto"), Package: proto.String("x"), Syntax: proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("A")}, {Name: proto.String("B")}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b := fd.Messages().ByName("A"), fd.Messages().ByName("B")
	protodoc.Register("x/test.proto", map[string]string{"x.A": "a", "x.B": "b"})
	if protodoc.Comment(a) != "a" || protodoc.Comment(b) != "b" {
		t.Fatalf("after the first registration: %q %q", protodoc.Comment(a), protodoc.Comment(b))
	}
	protodoc.Register("x/test.proto", map[string]string{"x.A": "a2"})
	if protodoc.Comment(a) != "a2" || protodoc.Comment(b) != "" {
		t.Errorf("after the second: %q %q", protodoc.Comment(a), protodoc.Comment(b))
	}
}
