# The handler: prints the response on stdout, logs on stderr.
handler() {
  name=$(printf '%s' "$1" | sed -n 's/.*"name"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
  [ -n "$name" ] || name="world"
  echo "greeting $name" >&2
  printf '{"message":"Hello, %s!"}' "$name"
}
