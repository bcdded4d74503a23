//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package ledger

// lockDir does nothing where flock is unavailable: the caller must make
// sure only one Writer uses the directory.
func lockDir(string) (release func() error, err error) {
	return func() error { return nil }, nil
}
