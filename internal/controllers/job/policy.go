package job

import (
	"fmt"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// policyMatch is what spec.podFailurePolicy says about one failed pod.
type policyMatch struct {
	// failJob is the Job's failure message when a FailJob rule matched.
	failJob string
	// count is false when an Ignore rule matched: the failure does not count towards
	// backoffLimit.
	count bool
	// action is the matched rule's action, or "" if none matched.
	action batchv1.PodFailurePolicyAction
}

// matchFailurePolicy applies policy's rules, first match wins, to the failed pod. Without a
// policy, or without a matching rule, the failure counts.
func matchFailurePolicy(policy *batchv1.PodFailurePolicy, pod *corev1.Pod) policyMatch {
	if policy == nil {
		return policyMatch{count: true}
	}
	for i, rule := range policy.Rules {
		var jobMessage string
		switch {
		case rule.OnExitCodes != nil:
			cs := matchExitCodes(pod, rule.OnExitCodes)
			if cs == nil {
				continue
			}
			jobMessage = fmt.Sprintf("Container %s for pod %s/%s failed with exit code %v matching %v rule at index %d",
				cs.Name, pod.Namespace, pod.Name, cs.State.Terminated.ExitCode, rule.Action, i)
		case rule.OnPodConditions != nil:
			cond := matchPodConditions(pod, rule.OnPodConditions)
			if cond == nil {
				continue
			}
			jobMessage = fmt.Sprintf("Pod %s/%s has condition %v matching %v rule at index %d",
				pod.Namespace, pod.Name, cond.Type, rule.Action, i)
		default:
			continue
		}
		m := policyMatch{count: rule.Action != batchv1.PodFailurePolicyActionIgnore, action: rule.Action}
		if rule.Action == batchv1.PodFailurePolicyActionFailJob {
			m.failJob = jobMessage
		}
		return m
	}
	return policyMatch{count: true}
}

// matchExitCodes returns the first terminated container (regular ones before init ones) whose
// non-zero exit code the requirement matches, or nil.
func matchExitCodes(pod *corev1.Pod, req *batchv1.PodFailurePolicyOnExitCodesRequirement) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses} {
		for i := range list {
			cs := &list[i]
			t := cs.State.Terminated
			if t == nil || t.ExitCode == 0 || (req.ContainerName != nil && *req.ContainerName != cs.Name) {
				continue
			}
			in := slices.Contains(req.Values, t.ExitCode)
			if (req.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn && in) ||
				(req.Operator == batchv1.PodFailurePolicyOnExitCodesOpNotIn && !in) {
				return cs
			}
		}
	}
	return nil
}

// matchPodConditions returns the first condition of pod that a pattern matches, or nil.
func matchPodConditions(pod *corev1.Pod, patterns []batchv1.PodFailurePolicyOnPodConditionsPattern) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		c := &pod.Status.Conditions[i]
		for _, p := range patterns {
			if c.Type == p.Type && c.Status == p.Status {
				return c
			}
		}
	}
	return nil
}

// matchSuccessPolicy reports whether succeeded meets a rule of job's successPolicy, and the
// message of the SuccessCriteriaMet condition.
func matchSuccessPolicy(job *batchv1.Job, succeeded indexes) (string, bool) {
	policy := job.Spec.SuccessPolicy
	if policy == nil || len(succeeded) == 0 {
		return "", false
	}
	completions := int(*job.Spec.Completions)
	for i, rule := range policy.Rules {
		met := false
		if rule.SucceededIndexes != nil {
			required := parseIndexes(*rule.SucceededIndexes, completions)
			if len(required) == 0 {
				continue
			}
			contains := 0
			for _, ix := range required {
				if succeeded.has(ix) {
					contains++
				}
			}
			met = contains == len(required) || (rule.SucceededCount != nil && contains >= int(*rule.SucceededCount))
		} else if rule.SucceededCount != nil {
			met = len(succeeded) >= int(*rule.SucceededCount)
		}
		if met {
			return fmt.Sprintf("Matched rules at index %d", i), true
		}
	}
	return "", false
}
