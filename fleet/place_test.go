package fleet

import (
	"fmt"
	"testing"
)

func members(n int) []Member {
	out := make([]Member, n)
	for i := range out {
		out[i] = Member{Name: fmt.Sprintf("media-%d", i), MaxDevices: 1000}
	}
	return out
}

// TestPlaceMovesLittle: a member that joins takes about its share of the
// devices, and only devices that move to it move; one that leaves gives
// up only its own.
func TestPlaceMovesLittle(t *testing.T) {
	const devices = 3000
	before, after := members(3), members(4)
	moved, toNew := 0, 0
	for i := range devices {
		id := fmt.Sprintf("dev-%d", i)
		a, _ := Place(id, before, false)
		b, _ := Place(id, after, false)
		if a.Name != b.Name {
			moved++
			if b.Name == "media-3" {
				toNew++
			}
		}
	}
	if moved != toNew {
		t.Fatalf("%d devices moved, %d of them to the new member: the others moved for nothing", moved, toNew)
	}
	if moved < devices/4-devices/20 || moved > devices/4+devices/20 {
		t.Fatalf("%d of %d devices moved to a fourth member, want about a quarter", moved, devices)
	}
}

// TestPlaceCapacityAndEncoders: full members are skipped, members with a
// hardware encoder go first for devices that encode here.
func TestPlaceCapacityAndEncoders(t *testing.T) {
	ms := []Member{{Name: "a", Devices: 2, MaxDevices: 2}, {Name: "b", MaxDevices: 2}, {Name: "c", MaxDevices: 2, HardwareEncoder: true}}
	for i := range 50 {
		id := fmt.Sprintf("dev-%d", i)
		m, ok := Place(id, ms, false)
		if !ok || m.Name == "a" {
			t.Fatalf("%s placed on %q (ok %v): a is full", id, m.Name, ok)
		}
		if m, _ := Place(id, ms, true); m.Name != "c" {
			t.Fatalf("%s, which needs encoding, placed on %q, not the member with a hardware encoder", id, m.Name)
		}
	}
	if _, ok := Place("x", []Member{{Name: "a", Devices: 1, MaxDevices: 1}}, false); ok {
		t.Fatal("placed on a full fleet")
	}
	if _, ok := Place("x", nil, false); ok {
		t.Fatal("placed with no members")
	}
}
