package images

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Names of the cluster's images. Nodes pull localhost:5000/… from the cluster's registry,
// whatever port it really listens on (their containerd mirrors the name to it).
const (
	ClusterRegistry = "localhost:5000"
	PauseImage      = ClusterRegistry + "/gantry/pause:1"
	TestServerImage = ClusterRegistry + "/gantry/testserver:1"
)

// TestServerLinks are the names the test image's multi-call program answers to besides its
// own: what exec probes, `kubectl exec` and `kubectl cp` run.
var TestServerLinks = []string{"sh", "cat", "ls", "echo", "sleep", "test", "tar"}

// Pause is the pause image: the process that holds a pod's namespaces. Like Kubernetes'
// pause it exits 0 on SIGINT or SIGTERM, lets the kernel reap orphaned children (SIGCHLD
// ignored), and otherwise sleeps in pause(2). The binary is a 212-byte static x86-64 ELF
// that pauseELF writes, so the image needs no compiler and no download.
func Pause() (v1.Image, error) {
	if runtime.GOARCH != "amd64" {
		return nil, fmt.Errorf("the pause image is only generated for amd64, not %s", runtime.GOARCH)
	}
	return imageOf([]file{{name: "pause", mode: 0o755, data: pauseELF()}}, []string{"/pause"}, "amd64")
}

// pauseELF assembles the pause program:
//
//	    lea  rsi, [rip+term]      ; rt_sigaction(SIGTERM, &term, NULL, 8)
//	    mov  edi, 15
//	    xor  edx, edx
//	    mov  r10d, 8
//	    mov  eax, 13
//	    syscall
//	    mov  edi, 2               ; rt_sigaction(SIGINT, &term, NULL, 8)
//	    mov  eax, 13
//	    syscall
//	    lea  rsi, [rip+ignore]    ; rt_sigaction(SIGCHLD, &ignore, NULL, 8)
//	    mov  edi, 17
//	    mov  eax, 13
//	    syscall
//	loop:
//	    mov  eax, 34              ; pause()
//	    syscall
//	    jmp  loop
//	handler:
//	    xor  edi, edi             ; exit_group(0)
//	    mov  eax, 231
//	    syscall
//	term:   handler, SA_RESTORER, handler, 0   ; x86-64 delivers only with a restorer set;
//	ignore: SIG_IGN, 0, 0, 0                   ; the handler exits, so it never returns
func pauseELF() []byte {
	const (
		base      = 0x400000
		headers   = 64 + 56 // ELF header and one program header
		saRestore = 0x04000000
	)
	var code bytes.Buffer
	// fixups are the rel32 fields of the two lea instructions: where each is and which
	// label it points at.
	type fixup struct {
		at    int
		label string
	}
	var fixups []fixup
	emit := func(b ...byte) { code.Write(b) }
	leaRSI := func(label string) {
		emit(0x48, 0x8d, 0x35)
		fixups = append(fixups, fixup{code.Len(), label})
		emit(0, 0, 0, 0)
	}
	movEDI := func(v byte) { emit(0xbf, v, 0, 0, 0) }
	movEAX := func(v byte) { emit(0xb8, v, 0, 0, 0) }
	syscall := func() { emit(0x0f, 0x05) }

	leaRSI("term")
	movEDI(15)
	emit(0x31, 0xd2)             // xor edx, edx
	emit(0x41, 0xba, 8, 0, 0, 0) // mov r10d, 8
	movEAX(13)
	syscall()
	movEDI(2)
	movEAX(13)
	syscall()
	leaRSI("ignore")
	movEDI(17)
	movEAX(13)
	syscall()
	loop := code.Len()
	movEAX(34)
	syscall()
	emit(0xeb, byte(int8(loop-(code.Len()+2)))) // jmp loop
	handler := code.Len()
	emit(0x31, 0xff) // xor edi, edi
	movEAX(231)
	syscall()
	labels := map[string]int{"term": code.Len()}
	handlerAddr := uint64(base + headers + handler)
	for _, v := range []uint64{handlerAddr, saRestore, handlerAddr, 0} {
		binary.Write(&code, binary.LittleEndian, v)
	}
	labels["ignore"] = code.Len()
	for _, v := range []uint64{1, 0, 0, 0} {
		binary.Write(&code, binary.LittleEndian, v)
	}
	text := code.Bytes()
	for _, f := range fixups {
		rel := int32(labels[f.label] - (f.at + 4))
		binary.LittleEndian.PutUint32(text[f.at:], uint32(rel))
	}

	size := uint64(headers + len(text))
	var out bytes.Buffer
	w := func(v any) { binary.Write(&out, binary.LittleEndian, v) }
	out.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	w(uint16(2))              // ET_EXEC
	w(uint16(0x3e))           // EM_X86_64
	w(uint32(1))              // EV_CURRENT
	w(uint64(base + headers)) // entry
	w(uint64(64))             // program headers' offset
	w(uint64(0))              // no section headers
	w(uint32(0))              // flags
	w(uint16(64))             // ELF header size
	w(uint16(56))             // program header size
	w(uint16(1))              // one program header
	w(uint16(0))
	w(uint16(0))
	w(uint16(0))
	// PT_LOAD of the whole file, readable and executable.
	w(uint32(1))
	w(uint32(5))
	w(uint64(0))
	w(uint64(base))
	w(uint64(base))
	w(size)
	w(size)
	w(uint64(0x1000))
	out.Write(text)
	return out.Bytes()
}
