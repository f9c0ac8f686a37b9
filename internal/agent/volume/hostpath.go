package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// checkHostPath checks (and for the *OrCreate types makes) a hostPath volume's path, with
// the kubelet's messages.
func checkHostPath(path string, pathType *corev1.HostPathType) error {
	for _, item := range strings.Split(path, "/") {
		if item == ".." {
			return fmt.Errorf("invalid HostPath `%s`: must not contain '..'", path)
		}
	}
	if pathType == nil || *pathType == corev1.HostPathUnset {
		return nil
	}
	switch *pathType {
	case corev1.HostPathDirectoryOrCreate:
		if !exists(path) {
			return os.MkdirAll(path, 0o755)
		}
		return expectType(path, corev1.HostPathDirectory, "directory")
	case corev1.HostPathDirectory:
		return expectType(path, corev1.HostPathDirectory, "directory")
	case corev1.HostPathFileOrCreate:
		if !exists(path) {
			// As the kubelet: the file, not its parent directories.
			f, err := os.OpenFile(path, os.O_CREATE, 0o644)
			if err != nil {
				return err
			}
			return f.Close()
		}
		return expectType(path, corev1.HostPathFile, "file")
	case corev1.HostPathFile:
		return expectType(path, corev1.HostPathFile, "file")
	case corev1.HostPathSocket:
		return expectType(path, corev1.HostPathSocket, "socket file")
	case corev1.HostPathCharDev:
		return expectType(path, corev1.HostPathCharDev, "character device")
	case corev1.HostPathBlockDev:
		return expectType(path, corev1.HostPathBlockDev, "block device")
	default:
		return fmt.Errorf("%s is an invalid volume type", *pathType)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func expectType(path string, want corev1.HostPathType, expected string) error {
	got, err := fileType(path)
	if err != nil {
		return fmt.Errorf("hostPath type check failed, %s is not a %s, unable to determine its type: %w", path, expected, err)
	}
	if got != want {
		return fmt.Errorf("hostPath type check failed: %s is not a %s, it's a %s", path, expected, got)
	}
	return nil
}

// fileType names what is at path with the HostPathType words (Directory, File, Socket,
// CharDevice, BlockDevice), following symlinks as the kubelet does.
func fileType(path string) (corev1.HostPathType, error) {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("path %q does not exist", path)
	}
	if err != nil {
		return "", err
	}
	switch mode := info.Mode(); {
	case mode.IsDir():
		return corev1.HostPathDirectory, nil
	case mode.IsRegular():
		return corev1.HostPathFile, nil
	case mode&fs.ModeSocket != 0:
		return corev1.HostPathSocket, nil
	case mode&fs.ModeCharDevice != 0:
		return corev1.HostPathCharDev, nil
	case mode&fs.ModeDevice != 0:
		return corev1.HostPathBlockDev, nil
	}
	return "", errors.New("only recognise file, directory, socket, block device and character device")
}
