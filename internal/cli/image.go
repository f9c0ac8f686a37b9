package cli

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// clusterRegistryHost is the name cluster images carry (localhost:5000/gantry/pause:1); the
// nodes reach the server's registry under it whatever its real address.
const clusterRegistryHost = "localhost:5000"

func newImageCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Manage the cluster's images: import tarballs into the embedded registry, list the nodes' images",
	}
	cmd.AddCommand(newImageImportCommand(), newImageLsCommand())
	return cmd
}

func newImageImportCommand() *cobra.Command {
	registry := "127.0.0.1:5000"
	cmd := &cobra.Command{
		Use:   "import FILE...",
		Short: "Push the images of docker-archive (docker save) or OCI image-layout tarballs to the cluster's registry",
		Long: `Push every image in the tarballs to the embedded registry under its own name, so that
pods use it by that name: an imported nginx:1.27 is pulled as nginx:1.27 without the internet.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			for _, f := range files {
				names, err := importImages(f, registry)
				if err != nil {
					return err
				}
				for _, n := range names {
					fmt.Fprintln(cmd.OutOrStdout(), n)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&registry, "registry", registry, "host:port of the cluster's registry (gantry server --registry-port)")
	return cmd
}

// importTarget is where an image named ref goes in a registry at registry, and the name
// users write in pod specs.
type importTarget struct {
	ref      name.Reference // <registry>/<repository>:<tag> or @<digest>
	userName string         // nginx:1.27, quay.io/a/b:t, localhost:5000/x:y
}

// mapImageName maps an image's name to its place in the cluster registry. The registry
// keeps an image of host H under the repository "<H>/<path>" (it serves it to containerd
// mirroring H), except for the cluster's own host, whose images keep their path.
func mapImageName(image, registry string) (importTarget, error) {
	ref, err := name.ParseReference(image)
	if err != nil {
		return importTarget{}, fmt.Errorf("image name %q: %w", image, err)
	}
	host, path := ref.Context().RegistryStr(), ref.Context().RepositoryStr()
	if host == name.DefaultRegistry {
		host = "docker.io"
	}
	repo := host + "/" + path
	if host == clusterRegistryHost {
		repo = path
	} else if strings.Contains(host, ":") {
		return importTarget{}, fmt.Errorf("image %q: only %s may carry a port: the registry names repositories after their host", image, clusterRegistryHost)
	}
	suffix := ":" + ref.Identifier()
	if _, ok := ref.(name.Digest); ok {
		suffix = "@" + ref.Identifier()
	}
	target, err := name.ParseReference(registry+"/"+repo+suffix, name.Insecure)
	if err != nil {
		return importTarget{}, fmt.Errorf("image %q: %w", image, err)
	}
	return importTarget{ref: target, userName: familiarName(host, path) + suffix}, nil
}

// familiarName is a repository as users write it: docker.io/library/nginx is nginx,
// docker.io/foo/bar is foo/bar.
func familiarName(host, path string) string {
	if host != "docker.io" {
		return host + "/" + path
	}
	return strings.TrimPrefix(path, "library/")
}

// importImages pushes every named image of a tarball and returns the names pods use.
func importImages(file, registry string) ([]string, error) {
	files, err := tarFiles(file)
	if err != nil {
		return nil, err
	}
	// docker save writes manifest.json (recent Docker writes an OCI layout beside it);
	// manifest.json has the tags.
	if files["manifest.json"] {
		return importDockerArchive(file, registry)
	}
	if files["index.json"] && files["oci-layout"] {
		return importOCILayout(file, registry)
	}
	return nil, fmt.Errorf("%s is neither a docker-archive (no manifest.json) nor an OCI image layout (no index.json)", file)
}

// tarFiles lists the regular files of a tarball.
func tarFiles(file string) (map[string]bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	files := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", file, err)
		}
		files[strings.TrimPrefix(filepath.Clean(h.Name), "/")] = true
	}
}

func importDockerArchive(file, registry string) ([]string, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(file) }
	manifest, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	var pushed []string
	for _, entry := range manifest {
		if len(entry.RepoTags) == 0 {
			fmt.Fprintf(os.Stderr, "skipping image %s of %s: it has no name (docker save IMAGE:TAG names it)\n", entry.Config, file)
			continue
		}
		for _, repoTag := range entry.RepoTags {
			tag, err := name.NewTag(repoTag)
			if err != nil {
				return pushed, fmt.Errorf("image %q in %s: %w", repoTag, file, err)
			}
			img, err := tarball.Image(opener, &tag)
			if err != nil {
				return pushed, fmt.Errorf("read image %s from %s: %w", repoTag, file, err)
			}
			target, err := mapImageName(repoTag, registry)
			if err != nil {
				return pushed, err
			}
			if err := remote.Write(target.ref, img); err != nil {
				return pushed, fmt.Errorf("push %s to %s: %w", repoTag, target.ref, err)
			}
			pushed = append(pushed, target.userName)
		}
	}
	return pushed, nil
}

// Annotations naming an image in an OCI layout's index.json: containerd's full name, else
// the OCI ref name, which may be a full name or only a tag.
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = "org.opencontainers.image.ref.name"
)

func importOCILayout(file, registry string) ([]string, error) {
	dir, err := os.MkdirTemp("", "gantry-import-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := untar(file, dir); err != nil {
		return nil, err
	}
	index, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("read OCI layout %s: %w", file, err)
	}
	im, err := index.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("read OCI layout %s: %w", file, err)
	}
	var pushed []string
	for _, desc := range im.Manifests {
		imageName := desc.Annotations[annotationContainerdName]
		if ref := desc.Annotations[annotationRefName]; imageName == "" && strings.ContainsAny(ref, "/:") {
			imageName = ref
		}
		if imageName == "" {
			fmt.Fprintf(os.Stderr, "skipping image %s of %s: it has no name (annotation %s or %s)\n", desc.Digest, file, annotationContainerdName, annotationRefName)
			continue
		}
		target, err := mapImageName(imageName, registry)
		if err != nil {
			return pushed, err
		}
		if err := pushDescriptor(index, desc, target.ref); err != nil {
			return pushed, fmt.Errorf("push %s to %s: %w", imageName, target.ref, err)
		}
		pushed = append(pushed, target.userName)
	}
	return pushed, nil
}

// pushDescriptor pushes the image or index desc of a layout.
func pushDescriptor(index v1.ImageIndex, desc v1.Descriptor, ref name.Reference) error {
	if desc.MediaType.IsIndex() {
		child, err := index.ImageIndex(desc.Digest)
		if err != nil {
			return err
		}
		return remote.WriteIndex(ref, child)
	}
	img, err := index.Image(desc.Digest)
	if err != nil {
		return err
	}
	return remote.Write(ref, img)
}

// untar extracts the regular files and directories of a tarball into dir, refusing paths
// that leave it.
func untar(file, dir string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", file, err)
		}
		if !filepath.IsLocal(h.Name) {
			return fmt.Errorf("read %s: entry %q leaves the archive", file, h.Name)
		}
		path := filepath.Join(dir, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := writeFileFrom(path, tr); err != nil {
				return fmt.Errorf("extract %s: %w", h.Name, err)
			}
		}
	}
}

func writeFileFrom(path string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func newImageLsCommand() *cobra.Command {
	var kubeconfig string
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the images on the cluster's nodes (node.status.images)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := clientcmd.BuildConfigFromFlags("", adminKubeconfig(kubeconfig))
			if err != nil {
				return fmt.Errorf("load kubeconfig: %w", err)
			}
			client, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return err
			}
			nodes, err := client.CoreV1().Nodes().List(cmd.Context(), metav1.ListOptions{})
			if err != nil {
				return fmt.Errorf("list nodes: %w", err)
			}
			var rows []imageRow
			for _, n := range nodes.Items {
				for _, img := range n.Status.Images {
					rows = append(rows, imageRow{names: img.Names, size: img.SizeBytes, node: n.Name})
				}
			}
			return printImages(cmd.OutOrStdout(), rows)
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: KUBECONFIG, else the local server's admin kubeconfig)")
	return cmd
}

// adminKubeconfig is the kubeconfig to use: the flag, else KUBECONFIG, else the local
// server's admin kubeconfig, as `gantry kubectl` finds it.
func adminKubeconfig(flag string) string {
	if flag != "" {
		return flag
	}
	if env := os.Getenv("KUBECONFIG"); env != "" {
		return env
	}
	return filepath.Join(defaultDataDir(), "admin.kubeconfig")
}

// imageRow is one image on one node.
type imageRow struct {
	names []string
	size  int64
	node  string
}

// printImages prints one line per image with the nodes that hold it.
func printImages(w io.Writer, rows []imageRow) error {
	type entry struct {
		size  int64
		nodes []string
	}
	byName := map[string]*entry{}
	for _, r := range rows {
		n := displayImageName(r.names)
		e, ok := byName[n]
		if !ok {
			e = &entry{size: r.size}
			byName[n] = e
		}
		e.nodes = append(e.nodes, r.node)
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tSIZE\tNODES")
	for _, n := range names {
		e := byName[n]
		sort.Strings(e.nodes)
		fmt.Fprintf(tw, "%s\t%s\t%s\n", n, humanSize(e.size), strings.Join(e.nodes, ","))
	}
	return tw.Flush()
}

// displayImageName is an image's first repo tag, else its first name (a digest).
func displayImageName(names []string) string {
	for _, n := range names {
		if !strings.Contains(n, "@") {
			return n
		}
	}
	if len(names) > 0 {
		return names[0]
	}
	return "<none>"
}

// humanSize prints bytes in decimal units, as `docker images` and `crictl images` do.
func humanSize(b int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	f := float64(b)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", b)
	}
	return fmt.Sprintf("%.3g%s", f, units[i])
}
