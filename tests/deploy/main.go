// deploy-check: the deployment checks of `make deploy-check` in one Go
// program (so CI compiles Go once).  Run from the repository root:
//
//	go run ./tests/deploy -root .        (tests/deploy/run.sh does this)
//
// For the Helm chart (charts/weir) with its default values and with every
// charts/weir/ci/*.yaml: `helm lint --strict` (through Helm's own lint
// package: any warning fails), `helm template` (values validated against
// values.schema.json, then rendered by Helm's engine), and every rendered
// object decoded strictly into its Kubernetes API type (k8s.io/api,
// Prometheus Operator's types; KEDA's ScaledObject into a copy of its v1alpha1
// spec) with no unknown or duplicate field.  Then properties a user relies
// on (security context, probes, autoscaling per mode, mesh settings). A values
// file with a misspelt key must be rejected.  For kustomize (k8s/): base and
// every overlay built by kustomize's own API and decoded the same way.
//
// Prints one line per check ("ok   name" / "FAIL name: why") and ends with
// "deploy-check: N passed, N failed"; exits 1 when anything failed.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"

	monv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

var passed, failed int

func check(name string, err error) bool {
	if err != nil {
		failed++
		fmt.Printf("FAIL %s: %v\n", name, err)
		return false
	}
	passed++
	fmt.Printf("ok   %s\n", name)
	return true
}

// object is one rendered manifest: its decoded API object and the raw map.
type object struct {
	source string
	kind   string
	name   string
	typed  any
	raw    map[string]any
}

// newTyped returns a pointer to the Go type of apiVersion/kind, or nil.
func newTyped(apiVersion, kind string) any {
	switch apiVersion + "/" + kind {
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}
	case "v1/Secret":
		return &corev1.Secret{}
	case "v1/Service":
		return &corev1.Service{}
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}
	case "v1/Namespace":
		return &corev1.Namespace{}
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "networking.k8s.io/v1/NetworkPolicy":
		return &networkingv1.NetworkPolicy{}
	case "autoscaling/v2/HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}
	case "rbac.authorization.k8s.io/v1/Role":
		return &rbacv1.Role{}
	case "monitoring.coreos.com/v1/ServiceMonitor":
		return &monv1.ServiceMonitor{}
	case "monitoring.coreos.com/v1/PodMonitor":
		return &monv1.PodMonitor{}
	case "monitoring.coreos.com/v1/PrometheusRule":
		return &monv1.PrometheusRule{}
	case "keda.sh/v1alpha1/ScaledObject":
		return &ScaledObject{}
	}
	return nil
}

// decodeAll splits a multi-document YAML stream and strictly decodes each
// non-empty document.
func decodeAll(source string, data []byte) ([]object, error) {
	var out []object
	var errs []error
	for i, doc := range splitYAML(data) {
		var raw map[string]any
		if err := yaml.Unmarshal(doc, &raw); err != nil {
			errs = append(errs, fmt.Errorf("%s doc %d: %v", source, i, err))
			continue
		}
		if raw == nil {
			continue // only comments
		}
		apiVersion, _ := raw["apiVersion"].(string)
		kind, _ := raw["kind"].(string)
		md, _ := raw["metadata"].(map[string]any)
		name, _ := md["name"].(string)
		typed := newTyped(apiVersion, kind)
		if typed == nil {
			errs = append(errs, fmt.Errorf("%s: %s %q: no API type known for %s", source, kind, name, apiVersion))
			continue
		}
		// UnmarshalStrict: an unknown field or a repeated key is an error.
		if err := yaml.UnmarshalStrict(doc, typed); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s %q: %v", source, kind, name, err))
			continue
		}
		out = append(out, object{source, kind, name, typed, raw})
	}
	return out, errors.Join(errs...)
}

func splitYAML(data []byte) [][]byte {
	var docs [][]byte
	for _, d := range bytes.Split(append([]byte("\n"), data...), []byte("\n---")) {
		// A separator line may carry a comment or trailing spaces.
		if nl := bytes.IndexByte(d, '\n'); nl >= 0 && len(bytes.TrimSpace(d[:nl])) > 0 &&
			!bytes.HasPrefix(bytes.TrimSpace(d[:nl]), []byte("#")) {
			d = append([]byte("\n"), d...)
		}
		if len(bytes.TrimSpace(d)) > 0 {
			docs = append(docs, d)
		}
	}
	return docs
}

// ---------------------------------------------------------------- Helm

func lintChart(chartDir string, vals map[string]any) error {
	// helm lint --strict: fail on warnings and errors alike.
	l := lint.AllWithKubeVersionAndSchemaValidation(chartDir, vals, "weir", nil, false)
	var msgs []string
	for _, m := range l.Messages {
		if m.Severity >= support.WarningSev {
			msgs = append(msgs, m.Error())
		}
	}
	if len(msgs) > 0 {
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}

func render(chrt *chart.Chart, vals map[string]any) ([]object, error) {
	opts := chartutil.ReleaseOptions{Name: "weir", Namespace: "weir", Revision: 1, IsInstall: true}
	rv, err := chartutil.ToRenderValues(chrt, vals, opts, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(chrt, rv)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var objs []object
	var errs []error
	for _, n := range names {
		if strings.HasSuffix(n, "NOTES.txt") {
			continue
		}
		o, err := decodeAll(n, []byte(files[n]))
		objs = append(objs, o...)
		errs = append(errs, err)
	}
	return objs, errors.Join(errs...)
}

func readValues(path string) (map[string]any, error) {
	if path == "" {
		return map[string]any{}, nil
	}
	v, err := chartutil.ReadValuesFile(path)
	if err != nil {
		return nil, err
	}
	return v.AsMap(), nil
}

func byKind(objs []object, kind string) []object {
	var out []object
	for _, o := range objs {
		if o.kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// checkDeployments: what every Weir pod must have whatever the values.
func checkDeployments(objs []object) error {
	deps := byKind(objs, "Deployment")
	if len(deps) != 4 {
		return fmt.Errorf("%d Deployments, want 4", len(deps))
	}
	var errs []error
	for _, o := range deps {
		d := o.typed.(*appsv1.Deployment)
		p := d.Spec.Template.Spec
		bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf("%s: "+f, append([]any{d.Name}, a...)...)) }
		if p.SecurityContext == nil || p.SecurityContext.RunAsNonRoot == nil || !*p.SecurityContext.RunAsNonRoot {
			bad("pod securityContext.runAsNonRoot is not true")
		} else if p.SecurityContext.SeccompProfile == nil || p.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			bad("seccompProfile is not RuntimeDefault")
		}
		if p.EnableServiceLinks == nil || *p.EnableServiceLinks {
			bad("enableServiceLinks is not false (a Service named kafka would inject KAFKA_* variables)")
		}
		if len(p.Containers) != 1 {
			bad("%d containers", len(p.Containers))
			continue
		}
		c := p.Containers[0]
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			bad("readOnlyRootFilesystem is not true")
		}
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			bad("allowPrivilegeEscalation is not false")
		}
		if sc == nil || sc.Capabilities == nil || !reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			bad("capabilities do not drop ALL")
		}
		for _, pr := range []struct {
			name string
			p    *corev1.Probe
			path string
		}{{"startup", c.StartupProbe, "/healthz"}, {"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
			if pr.p == nil || pr.p.HTTPGet == nil || pr.p.HTTPGet.Path != pr.path || pr.p.HTTPGet.Port.StrVal != "admin" {
				bad("%s probe is not GET %s on the admin port", pr.name, pr.path)
			}
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			bad("resources lack cpu/memory requests or a memory limit")
		}
		env := map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
		for _, k := range []string{"PIPELINE_SPEC", "SCHEMA_DIR", "KAFKA_BOOTSTRAP_SERVERS", "ADMIN_PORT", "LOG_LEVEL", "POD_NAME"} {
			if _, ok := env[k]; !ok {
				bad("no %s in the environment", k)
			}
		}
		comp := d.Labels["app.kubernetes.io/component"]
		if comp == "compute" || comp == "enrichment" {
			if env["KAFKA_GROUP_INSTANCE_ID"] != "$(POD_NAME)" {
				bad("KAFKA_GROUP_INSTANCE_ID is not the pod name (static membership)")
			}
		}
	}
	return errors.Join(errs...)
}

// checkSecured: ci/secured-values.yaml (docs/security.md "Chart values"):
// SASL_SSL for ingress, compute and sink each as its own principal with its
// password as a file, enrichment over mTLS; every *_FILE and *_LOCATION
// names a file in a mounted Secret or ConfigMap volume; no secret in the
// environment (no literal value, no secretKeyRef, no envFrom).
// full: also the registry, InfluxDB and Redis secrets (the chart's
// ci/secured-values.yaml; the kustomize overlay has Kafka only).
func checkSecured(objs []object, full bool) []error {
	var errs []error
	secretName := regexp.MustCompile(`PASSWORD|TOKEN|CREDENTIALS|SECRET`)
	for _, o := range byKind(objs, "Deployment") {
		d := o.typed.(*appsv1.Deployment)
		c := d.Labels["app.kubernetes.io/component"]
		pod := d.Spec.Template.Spec
		ctr := pod.Containers[0]
		vols := map[string]bool{} // volumes from a Secret or ConfigMap
		for _, v := range pod.Volumes {
			vols[v.Name] = v.Secret != nil || v.ConfigMap != nil
		}
		env := map[string]string{}
		for _, e := range ctr.Env {
			env[e.Name] = e.Value
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				errs = append(errs, fmt.Errorf("%s: %s from a secretKeyRef: a secret in the environment", c, e.Name))
			}
			if secretName.MatchString(e.Name) && !strings.HasSuffix(e.Name, "_FILE") {
				errs = append(errs, fmt.Errorf("%s: %s set in the environment", c, e.Name))
			}
			if !strings.HasSuffix(e.Name, "_FILE") && !strings.HasSuffix(e.Name, "_LOCATION") {
				continue
			}
			mounted := false
			for _, m := range ctr.VolumeMounts {
				if vols[m.Name] && m.SubPath == "" && strings.HasPrefix(e.Value, m.MountPath+"/") {
					mounted = true
				}
			}
			if !mounted {
				errs = append(errs, fmt.Errorf("%s: %s=%s is not in a mounted Secret/ConfigMap (without subPath)", c, e.Name, e.Value))
			}
		}
		if len(ctr.EnvFrom) > 0 {
			errs = append(errs, fmt.Errorf("%s: envFrom puts a Secret in the environment", c))
		}
		if env["KAFKA_SSL_CA_LOCATION"] == "" {
			errs = append(errs, fmt.Errorf("%s: no KAFKA_SSL_CA_LOCATION", c))
		}
		if c == "enrichment" {
			if env["KAFKA_SECURITY_PROTOCOL"] != "SSL" || env["KAFKA_SSL_KEY_LOCATION"] == "" ||
				env["KAFKA_SSL_CERTIFICATE_LOCATION"] == "" || env["KAFKA_SASL_USERNAME"] != "" ||
				(full && env["REDIS_PASSWORD_FILE"] == "") {
				errs = append(errs, fmt.Errorf("enrichment: not mTLS with its certificate and REDIS_PASSWORD_FILE: %v", env))
			}
			continue
		}
		if env["KAFKA_SECURITY_PROTOCOL"] != "SASL_SSL" || env["KAFKA_SASL_MECHANISMS"] != "SCRAM-SHA-512" ||
			env["KAFKA_SASL_USERNAME"] != "weir-"+c || env["KAFKA_SASL_PASSWORD_FILE"] == "" {
			errs = append(errs, fmt.Errorf("%s: not SASL_SSL SCRAM-SHA-512 as weir-%s with a password file: %v", c, c, env))
		}
		if !full {
			continue
		}
		if c == "sink" && env["INFLUX_TOKEN_FILE"] == "" {
			errs = append(errs, fmt.Errorf("sink: no INFLUX_TOKEN_FILE"))
		}
		if env["SCHEMA_REGISTRY_CREDENTIALS_FILE"] == "" {
			errs = append(errs, fmt.Errorf("%s: no SCHEMA_REGISTRY_CREDENTIALS_FILE", c))
		}
	}
	return errs
}

// checkMode: what a ci/ values file promises shows in the output.
func checkMode(name string, objs []object) error {
	pods := map[string]map[string]string{} // component -> annotations+labels
	for _, o := range byKind(objs, "Deployment") {
		d := o.typed.(*appsv1.Deployment)
		m := map[string]string{}
		for k, v := range d.Spec.Template.Annotations {
			m["a:"+k] = v
		}
		for k, v := range d.Spec.Template.Labels {
			m["l:"+k] = v
		}
		pods[d.Labels["app.kubernetes.io/component"]] = m
	}
	var errs []error
	switch {
	case strings.Contains(name, "linkerd"):
		for c, m := range pods {
			if m["a:linkerd.io/inject"] != "enabled" || m["a:config.linkerd.io/opaque-ports"] == "" {
				errs = append(errs, fmt.Errorf("%s: no linkerd injection / opaque Kafka ports", c))
			}
		}
	case strings.Contains(name, "istio"):
		for c, m := range pods {
			if m["l:sidecar.istio.io/inject"] != "true" {
				errs = append(errs, fmt.Errorf("%s: no istio injection label", c))
			}
		}
		for _, o := range byKind(objs, "Service") {
			for _, p := range o.typed.(*corev1.Service).Spec.Ports {
				if p.AppProtocol == nil || *p.AppProtocol == "" {
					errs = append(errs, fmt.Errorf("service %s port %s has no appProtocol", o.name, p.Name))
				}
			}
		}
	case strings.Contains(name, "secured"):
		errs = append(errs, checkSecured(objs, true)...)
	case strings.Contains(name, "keda-on"):
		so := byKind(objs, "ScaledObject")
		if len(so) != 3 {
			errs = append(errs, fmt.Errorf("%d ScaledObjects, want 3 (compute, enrichment, sink)", len(so)))
		}
		for _, o := range so {
			s := o.typed.(*ScaledObject)
			if len(s.Spec.Triggers) == 0 || s.Spec.Triggers[0].Type != "kafka" || s.Spec.Triggers[0].Metadata["consumerGroup"] == "" {
				errs = append(errs, fmt.Errorf("%s: first trigger is not kafka lag of a consumer group", o.name))
			}
			if s.Spec.Fallback == nil {
				errs = append(errs, fmt.Errorf("%s: no fallback", o.name))
			}
		}
		for _, o := range byKind(objs, "HorizontalPodAutoscaler") {
			if !strings.HasSuffix(o.name, "-ingress") {
				errs = append(errs, fmt.Errorf("HPA %s beside a ScaledObject", o.name))
			}
		}
	case strings.Contains(name, "keda-off"):
		if n := len(byKind(objs, "ScaledObject")); n != 0 {
			errs = append(errs, fmt.Errorf("%d ScaledObjects with KEDA off", n))
		}
		if n := len(byKind(objs, "HorizontalPodAutoscaler")); n < 3 {
			errs = append(errs, fmt.Errorf("%d HPAs with KEDA off, want the fallback for compute, enrichment, sink", n))
		}
	}
	return errors.Join(errs...)
}

// checkDefaults: release-wide objects of the default install.
func checkDefaults(objs []object, root string) error {
	var errs []error
	want := map[string]int{"PodDisruptionBudget": 4, "NetworkPolicy": 4, "Service": 4, "ServiceMonitor": 4, "PrometheusRule": 1}
	for k, n := range want {
		if got := len(byKind(objs, k)); got != n {
			errs = append(errs, fmt.Errorf("%d %s, want %d", got, k, n))
		}
	}
	dash := 0
	var pipeline *corev1.ConfigMap
	for _, o := range byKind(objs, "ConfigMap") {
		cm := o.typed.(*corev1.ConfigMap)
		if cm.Labels["grafana_dashboard"] == "1" {
			dash++
			for k, v := range cm.Data {
				if !json.Valid([]byte(v)) {
					errs = append(errs, fmt.Errorf("dashboard %s/%s is not JSON", cm.Name, k))
				}
			}
		}
		if _, ok := cm.Data["pipeline.json"]; ok {
			pipeline = cm
		}
	}
	if dash < 3 {
		errs = append(errs, fmt.Errorf("%d dashboard ConfigMaps, want 3", dash))
	}
	// The chart's default pipeline is the documented reference example.
	if pipeline == nil {
		errs = append(errs, errors.New("no ConfigMap with pipeline.json"))
	} else {
		for key, file := range map[string]string{"pipeline.json": "docs/examples/traffic-pipeline.json", "intersections.json": "docs/examples/intersections.json"} {
			ref, err := os.ReadFile(filepath.Join(root, file))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if !sameJSON([]byte(pipeline.Data[key]), ref) {
				errs = append(errs, fmt.Errorf("ConfigMap %s: %s differs from %s", pipeline.Name, key, file))
			}
		}
	}
	return errors.Join(errs...)
}

func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// ---------------------------------------------------------------- kustomize

// checkOverlay: what the dev and prod overlays promise (k8s/README.md).
func checkOverlay(name string, objs []object) error {
	var errs []error
	wantReplicas, wantNS := int32(3), "weir"
	if name == "dev" {
		wantReplicas, wantNS = 1, "weir-dev"
		if n := len(byKind(objs, "PodDisruptionBudget")); n != 0 {
			errs = append(errs, fmt.Errorf("%d PDBs in dev", n))
		}
	} else if n := len(byKind(objs, "HorizontalPodAutoscaler")); n != 4 {
		errs = append(errs, fmt.Errorf("%d HPAs in prod, want 4", n))
	}
	for _, o := range byKind(objs, "Deployment") {
		d := o.typed.(*appsv1.Deployment)
		if d.Spec.Replicas == nil || *d.Spec.Replicas != wantReplicas {
			errs = append(errs, fmt.Errorf("%s: replicas not %d", d.Name, wantReplicas))
		}
		if d.Namespace != wantNS {
			errs = append(errs, fmt.Errorf("%s: namespace %q, want %q", d.Name, d.Namespace, wantNS))
		}
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			if e.Name == "LOG_LEVEL" && (e.Value == "debug") != (name == "dev") {
				errs = append(errs, fmt.Errorf("%s: LOG_LEVEL %s", d.Name, e.Value))
			}
		}
	}
	return errors.Join(errs...)
}

func kustomizeBuild(dir string) ([]byte, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, err
	}
	return m.AsYaml()
}

// kustomizeBase renders the chart with k8s/chart-values.yaml as the plain
// manifests of k8s/base/weir.yaml: the chart is the one source, kustomize
// users get plain YAML without Helm's labels.
func kustomizeBase(chrt *chart.Chart, root string) ([]byte, error) {
	vals, err := readValues(filepath.Join(root, "k8s", "chart-values.yaml"))
	if err != nil {
		return nil, err
	}
	objs, err := render(chrt, vals)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("# Generated from charts/weir with k8s/chart-values.yaml by\n" +
		"#   go run ./tests/deploy -root . -write-k8s-base   (in tests/deploy: see run.sh)\n" +
		"# Do not edit: change the chart, or patch in an overlay.\n")
	for _, o := range objs {
		strip(o.raw)
		y, err := yaml.Marshal(o.raw)
		if err != nil {
			return nil, err
		}
		b.WriteString("---\n# Source: " + strings.TrimPrefix(o.source, "weir/") + "\n")
		b.Write(y)
	}
	return b.Bytes(), nil
}

// strip removes what only makes sense under Helm.
func strip(m any) {
	switch v := m.(type) {
	case map[string]any:
		for _, k := range []string{"helm.sh/chart", "app.kubernetes.io/managed-by", "checksum/pipeline"} {
			delete(v, k)
		}
		for _, x := range v {
			strip(x)
		}
	case []any:
		for _, x := range v {
			strip(x)
		}
	}
}

func main() {
	root := flag.String("root", ".", "repository root")
	writeBase := flag.Bool("write-k8s-base", false, "regenerate k8s/base/weir.yaml from the chart and exit")
	show := flag.String("template", "", "print the chart rendered with this values file (\"-\": defaults) and exit")
	flag.Parse()
	chartDir := filepath.Join(*root, "charts", "weir")

	chrt, err := loader.Load(chartDir)
	if !check("chart loads", err) {
		fmt.Printf("deploy-check: %d passed, %d failed\n", passed, failed)
		os.Exit(1)
	}
	if *show != "" {
		f := *show
		if f == "-" {
			f = ""
		}
		vals, err := readValues(f)
		var objs []object
		if err == nil {
			objs, err = render(chrt, vals)
		}
		for _, o := range objs {
			y, _ := yaml.Marshal(o.raw)
			fmt.Printf("---\n# Source: %s\n%s", o.source, y)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	basePath := filepath.Join(*root, "k8s", "base", "weir.yaml")
	if *writeBase {
		out, err := kustomizeBase(chrt, *root)
		if err == nil {
			err = os.WriteFile(basePath, out, 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	check("k8s/base/weir.yaml is the chart's current output (else: -write-k8s-base)", func() error {
		want, err := kustomizeBase(chrt, *root)
		if err != nil {
			return err
		}
		got, err := os.ReadFile(basePath)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			return errors.New("differs")
		}
		return nil
	}())

	ci, _ := filepath.Glob(filepath.Join(chartDir, "ci", "*.yaml"))
	sets := append([]string{""}, ci...)
	check("chart has ci/ values for linkerd, istio, keda-on, keda-off", func() error {
		var missing []string
		for _, want := range []string{"linkerd", "istio", "keda-on", "keda-off"} {
			found := false
			for _, f := range ci {
				found = found || strings.Contains(filepath.Base(f), want)
			}
			if !found {
				missing = append(missing, want)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("missing: %s", strings.Join(missing, ", "))
		}
		return nil
	}())
	for _, f := range sets {
		name := "default values"
		if f != "" {
			name = "ci/" + filepath.Base(f)
		}
		vals, err := readValues(f)
		if !check("values "+name+" read", err) {
			continue
		}
		check("helm lint --strict ("+name+")", lintChart(chartDir, vals))
		objs, err := render(chrt, vals)
		if !check("helm template + strict decode ("+name+")", err) {
			continue
		}
		check("deployments: non-root, read-only, no capabilities, probes, resources ("+name+")", checkDeployments(objs))
		if f == "" {
			check("default install: PDBs, NetworkPolicies, Services, monitors, rules, dashboards, pipeline", checkDefaults(objs, *root))
		} else {
			check("mode settings ("+name+")", checkMode(filepath.Base(f), objs))
		}
	}

	// Misspelt keys, at the top and nested, must be rejected by both lint
	// and template (values.schema.json: additionalProperties false).
	bad, _ := filepath.Glob(filepath.Join(*root, "tests", "deploy", "testdata", "misspelt-*.yaml"))
	for _, f := range bad {
		vals, err := readValues(f)
		if !check("values "+filepath.Base(f)+" read", err) {
			continue
		}
		_, rerr := render(chrt, vals)
		lerr := lintChart(chartDir, vals)
		var err2 error
		if rerr == nil || lerr == nil {
			err2 = fmt.Errorf("accepted (template error: %v; lint error: %v)", rerr, lerr)
		} else if !strings.Contains(rerr.Error(), "additional properties") && !strings.Contains(rerr.Error(), "additionalProperties") {
			err2 = fmt.Errorf("rejected for another reason: %v", rerr)
		}
		check("misspelt values rejected ("+filepath.Base(f)+")", err2)
	}
	if len(bad) == 0 {
		check("misspelt values test files exist", errors.New("no tests/deploy/testdata/misspelt-*.yaml"))
	}

	dirs := []string{filepath.Join(*root, "k8s", "base")}
	overlays, _ := filepath.Glob(filepath.Join(*root, "k8s", "overlays", "*"))
	dirs = append(dirs, overlays...)
	check("kustomize has dev and prod overlays", func() error {
		for _, want := range []string{"dev", "prod"} {
			if _, err := os.Stat(filepath.Join(*root, "k8s", "overlays", want, "kustomization.yaml")); err != nil {
				return err
			}
		}
		return nil
	}())
	for _, d := range dirs {
		rel, _ := filepath.Rel(*root, d)
		out, err := kustomizeBuild(d)
		if !check("kustomize build "+rel, err) {
			continue
		}
		objs, err := decodeAll(rel, out)
		if !check("kustomize "+rel+" strict decode", err) {
			continue
		}
		check("kustomize "+rel+" deployments", checkDeployments(objs))
		if o := filepath.Base(d); o == "dev" || o == "prod" {
			check("kustomize "+rel+" settings", checkOverlay(o, objs))
		} else if o == "secured" {
			check("kustomize "+rel+" settings: secrets as files, one principal each",
				errors.Join(checkSecured(objs, false)...))
		}
	}

	fmt.Printf("deploy-check: %d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
