const add = (a, b) => a + b;

test("adds", () => {
  expect(add(2, 3)).toBe(5);
});
