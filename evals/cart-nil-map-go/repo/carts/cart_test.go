package carts

import (
	"errors"
	"testing"
)

func TestAddCountsUnits(t *testing.T) {
	cart := New("c1")
	if err := cart.Add("tea", 2); err != nil {
		t.Fatalf("add: %v", err)
	}
	_ = cart.Add("tea", 1)
	_ = cart.Add("jam", 1)
	if got := cart.Count(); got != 4 {
		t.Fatalf("count = %d, want 4", got)
	}
}

func TestAddRefusesZero(t *testing.T) {
	if err := New("c2").Add("tea", 0); !errors.Is(err, ErrBadQuantity) {
		t.Fatalf("want ErrBadQuantity, got %v", err)
	}
}

func TestSaveAndRestore(t *testing.T) {
	cart := New("c3")
	_ = cart.Add("jam", 2)
	data, err := cart.Save()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Restore(data)
	if err != nil {
		t.Fatal(err)
	}
	if back.ID != "c3" || back.Items["jam"] != 2 {
		t.Fatalf("restored %+v", back)
	}
}
