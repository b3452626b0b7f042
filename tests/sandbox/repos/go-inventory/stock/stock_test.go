package stock

import "testing"

func TestReserve(t *testing.T) {
	s := &Stock{Left: 3}
	if err := s.Reserve(2); err != nil {
		t.Fatalf("Reserve(2) of 3: %v", err)
	}
	if s.Left != 1 {
		t.Errorf("Left = %d, want 1", s.Left)
	}
}

func TestTotal(t *testing.T) {
	cases := []struct {
		name string
		n    int
		want string
	}{
		{"one item", 1, "$2.50"},
		{"four items", 4, "$10.00"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &Stock{Left: 10, Price: 250}
			if got := s.Total(c.n); got != c.want {
				t.Errorf("Total(%d) = %q, want %q", c.n, got, c.want)
			}
		})
	}
}
