package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/vworkspace/pushd/pkg/observe"
)

// The values of a drifted field on the application page: desired (the
// reference job's manifest) and live (read from the cluster).

// liveObject reads o from the cluster, briefly; nil when it cannot.
func (u *server) liveObject(ctx context.Context, cluster string, o observe.Object) map[string]any {
	if u.Clients == nil || o.Missing {
		return nil
	}
	cs, err := u.Clients.Clients(cluster)
	if err != nil {
		return nil
	}
	m, err := cs.Mapper.RESTMapping(schema.GroupKind{Group: o.Group, Kind: o.Kind}, o.Version)
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	obj, err := cs.Dynamic.Resource(m.Resource).Namespace(o.Namespace).Get(ctx, o.Name, metav1.GetOptions{})
	if err != nil {
		u.log.Debug("ui: live object unavailable", "cluster", cluster, "object", o.Kind+"/"+o.Name, "err", err)
		return nil
	}
	return obj.Object
}

// objectsByKey indexes a job's stored objects by "Kind/name".
func objectsByKey(stored string) map[string]map[string]any {
	var objs []map[string]any
	if json.Unmarshal([]byte(stored), &objs) != nil {
		return nil
	}
	out := map[string]map[string]any{}
	for _, o := range objs {
		meta, _ := o["metadata"].(map[string]any)
		kind, _ := o["kind"].(string)
		name, _ := meta["name"].(string)
		out[kind+"/"+name] = o
	}
	return out
}

// fieldValue reads a structured-merge-diff path (.data.domain,
// .spec.containers[name="app"].image) out of obj, as one line of JSON.
// Secret values never reach here: drift reports a Secret's paths, and
// this shows "(hidden)" for anything under .data or .stringData of one.
func fieldValue(obj map[string]any, path string) string {
	if obj["kind"] == "Secret" && (strings.HasPrefix(path, ".data") || strings.HasPrefix(path, ".stringData")) {
		return hidden
	}
	var cur any = obj
	rest := path
	for rest != "" {
		switch rest[0] {
		case '.':
			end := strings.IndexAny(rest[1:], ".[")
			if end < 0 {
				end = len(rest) - 1
			}
			name := rest[1 : end+1]
			rest = rest[end+1:]
			m, ok := cur.(map[string]any)
			if !ok {
				return ""
			}
			if cur, ok = m[name]; !ok {
				return "(removed)"
			}
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return ""
			}
			sel := rest[1:end]
			rest = rest[end+1:]
			list, ok := cur.([]any)
			if !ok {
				return ""
			}
			var found any
			for _, item := range list {
				if selects(item, sel) {
					found = item
					break
				}
			}
			if found == nil {
				return "(removed)"
			}
			cur = found
		default:
			return ""
		}
	}
	b, err := json.Marshal(cur)
	if err != nil {
		return ""
	}
	return truncate(string(b))
}

// selects matches a list item against a selector: k="v"[,k2="v2"].
func selects(item any, sel string) bool {
	m, ok := item.(map[string]any)
	if !ok {
		return false
	}
	for _, kv := range strings.Split(sel, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return false
		}
		var want any
		if json.Unmarshal([]byte(v), &want) != nil || fmt.Sprint(m[k]) != fmt.Sprint(want) {
			return false
		}
	}
	return true
}
