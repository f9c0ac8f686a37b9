package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

const (
	blockCert     = "CERTIFICATE"
	blockECKey    = "EC PRIVATE KEY"
	blockPKCS8Key = "PRIVATE KEY"
)

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: blockCert, Bytes: der})
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: blockECKey, Bytes: der}), nil
}

// parseCert parses the first certificate in data.
func parseCert(data []byte) (*x509.Certificate, error) {
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if block.Type == blockCert {
			return x509.ParseCertificate(block.Bytes)
		}
	}
	return nil, errors.New("no CERTIFICATE block in PEM data")
}

// parseKey parses the first private key in data: SEC 1 as written by this package, or
// PKCS #8.
func parseKey(data []byte) (crypto.Signer, error) {
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		switch block.Type {
		case blockECKey:
			return x509.ParseECPrivateKey(block.Bytes)
		case blockPKCS8Key:
			key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, err
			}
			signer, ok := key.(crypto.Signer)
			if !ok {
				return nil, fmt.Errorf("unsupported private key type %T", key)
			}
			return signer, nil
		}
	}
	return nil, errors.New("no private key block in PEM data")
}

// writeFile replaces path with data atomically: readers see the old content or the new,
// never a part.
func writeFile(path string, data []byte, perm os.FileMode) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op once renamed
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// writePair writes a key and its certificate, key first: a crash in between leaves a
// certificate that does not match its key, which loading detects, rather than a new
// certificate with an old key.
func writePair(certPath, keyPath string, certPEM, keyPEM []byte) error {
	if err := writeFile(keyPath, keyPEM, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", keyPath, err)
	}
	if err := writeFile(certPath, certPEM, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", certPath, err)
	}
	return nil
}

// readPair reads a certificate and key; ok is false if either file does not exist.
func readPair(certPath, keyPath string) (certPEM, keyPEM []byte, ok bool, err error) {
	certPEM, err = os.ReadFile(certPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, false, nil
	} else if err != nil {
		return nil, nil, false, err
	}
	keyPEM, err = os.ReadFile(keyPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, false, nil
	} else if err != nil {
		return nil, nil, false, err
	}
	return certPEM, keyPEM, true, nil
}
