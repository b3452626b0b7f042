package carts

import (
	"errors"
	"testing"
)

func TestOracleLegacyCartsTakeItems(t *testing.T) {
	for _, saved := range []string{`{"id":"old","items":null}`, `{"id":"old"}`} {
		cart, err := Restore([]byte(saved))
		if err != nil {
			t.Fatalf("%s: restore: %v", saved, err)
		}
		if err := cart.Add("tea", 2); err != nil {
			t.Fatalf("%s: add: %v", saved, err)
		}
		if err := cart.Add("jam", 1); err != nil {
			t.Fatalf("%s: add: %v", saved, err)
		}
		if cart.Count() != 3 || cart.Items["tea"] != 2 {
			t.Fatalf("%s: cart after adding = %+v", saved, cart)
		}
		data, err := cart.Save()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Restore(data)
		if err != nil || back.Count() != 3 {
			t.Fatalf("%s: saved again and restored: %+v, %v", saved, back, err)
		}
	}
}

func TestOracleQuantityIsStillChecked(t *testing.T) {
	cart, _ := Restore([]byte(`{"id":"old","items":null}`))
	if err := cart.Add("tea", 0); !errors.Is(err, ErrBadQuantity) {
		t.Fatalf("want ErrBadQuantity, got %v", err)
	}
}

func TestOracleNewCartsStillWork(t *testing.T) {
	cart := New("n")
	_ = cart.Add("oats", 3)
	if cart.Count() != 3 {
		t.Fatalf("count = %d", cart.Count())
	}
}
