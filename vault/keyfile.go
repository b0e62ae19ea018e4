package vault

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
)

// ReadKeyFile reads a secret from a key file: the one check every key file
// checkoutd reads gets (the local KEK's, the card processor's). It must be
// a regular file, owned by the user the service runs as, accessible to its
// owner only (0600 or 0400), and from min to max bytes long; the caller
// checks the format. Nothing is repaired: a file someone else may have
// read or written is refused, since they may hold or have chosen the key
// (PCI DSS 3.6.1.2 / 7.2: secret keys readable by the fewest custodians).
// Errors name the file and what is wrong, never its content.
func ReadKeyFile(path string, min, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // names the path
	}
	defer f.Close()
	// Stat the open file, not the path, so that what is checked is what is read.
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if err := ownedByUs(path, info); err != nil {
		return nil, err
	}
	// Windows has no such permission bits; its ACLs are the operator's job.
	if perm := info.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("%s has mode %04o: it must be accessible to its owner only (chmod 600)", path, perm)
	}
	if n := info.Size(); n < min || n > max {
		if min == max {
			return nil, fmt.Errorf("%s is %d bytes, want %d: it is damaged or not a key file", path, n, min)
		}
		return nil, fmt.Errorf("%s is %d bytes, want %d to %d: it is damaged or not a key file", path, n, min, max)
	}
	b := make([]byte, info.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		clear(b)
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

// CheckPrivateDir refuses a directory that anyone but the service's user
// can write to: one owned by another user, or with a group or other write
// bit (the sticky bit does not help: others could still plant files that
// are not there yet, such as a key file made on first start). A directory
// holding the database and key files must be the service's alone (PCI DSS
// 7.2: access to cardholder data and keys restricted to who needs it).
func CheckPrivateDir(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return fmt.Errorf("%s is not a directory", path)
	}
	if err := ownedByUs(path, info); err != nil {
		return err
	}
	if perm := info.Mode().Perm(); perm&0o022 != 0 && runtime.GOOS != "windows" {
		mode := perm
		if info.Mode()&fs.ModeSticky != 0 {
			mode |= 0o1000
		}
		return fmt.Errorf("%s has mode %04o: others can write to it; it must be writable by its owner only (chmod 700)", path, uint32(mode))
	}
	return nil
}
