package fanout

import "testing"

func TestControl(t *testing.T) {
	var c Control
	if !c.Allow("a") || c.Holder() != "a" {
		t.Fatal("the first viewer to send input does not take control")
	}
	if c.Allow("b") {
		t.Fatal("a second viewer got control while another holds it")
	}
	if prev := c.Take("b"); prev != "a" || c.Holder() != "b" {
		t.Fatalf("take: previous %q, holder %q", prev, c.Holder())
	}
	if c.Drop("a") {
		t.Fatal("a viewer without control dropped it")
	}
	if !c.Drop("b") || c.Holder() != "" {
		t.Fatal("drop by the holder did not free control")
	}
}
