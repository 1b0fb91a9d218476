//! OpenAPI documents: a small but real-shaped `/openapi/v2` (JSON) and
//! `/openapi/v3` (index + one document per group-version), with schemas
//! that carry descriptions and `x-kubernetes-group-version-kind`, and
//! per-resource paths whose PATCH operations declare `fieldValidation` (so
//! kubectl validates server-side). Enough for `kubectl explain`,
//! `kubectl apply` and `kubectl create --validate=strict`.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::resources::{self, ResourceType};

const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1";
const CORE: &str = "io.k8s.api.core.v1";
const APPS: &str = "io.k8s.api.apps.v1";
const AUTHZ: &str = "io.k8s.api.authorization.v1";
const AUTHN: &str = "io.k8s.api.authentication.v1";

fn r(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}
fn refd(desc: &str, name: &str) -> Value {
    json!({"allOf": [r(name)], "description": desc, "default": {}})
}
fn string(desc: &str) -> Value {
    json!({"type": "string", "description": desc})
}
fn int(desc: &str) -> Value {
    json!({"type": "integer", "format": "int32", "description": desc})
}
fn int64(desc: &str) -> Value {
    json!({"type": "integer", "format": "int64", "description": desc})
}
fn boolean(desc: &str) -> Value {
    json!({"type": "boolean", "description": desc})
}
fn time(desc: &str) -> Value {
    json!({"allOf": [r(&format!("{META}.Time"))], "description": desc})
}
fn map_string(desc: &str) -> Value {
    json!({"type": "object", "additionalProperties": {"type": "string", "default": ""}, "description": desc})
}
fn array(desc: &str, items: Value) -> Value {
    json!({"type": "array", "items": items, "description": desc})
}
fn strings(desc: &str) -> Value {
    array(desc, json!({"type": "string", "default": ""}))
}
fn int_or_string(desc: &str) -> Value {
    json!({"allOf": [r("io.k8s.apimachinery.pkg.util.intstr.IntOrString")], "description": desc})
}
fn object(desc: &str, props: Vec<(&str, Value)>) -> Value {
    let mut m = Map::new();
    for (k, v) in props {
        m.insert(k.to_string(), v);
    }
    json!({"type": "object", "description": desc, "properties": m})
}
/// A top-level kind: standard `apiVersion`, `kind`, `metadata` fields and
/// its group-version-kind.
fn kind(desc: &str, group: &str, version: &str, kind: &str, props: Vec<(&str, Value)>) -> Value {
    let mut all = vec![
        (
            "apiVersion",
            string(
                "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
            ),
        ),
        (
            "kind",
            string(
                "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
            ),
        ),
        (
            "metadata",
            refd(
                "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
                &format!("{META}.ObjectMeta"),
            ),
        ),
    ];
    all.extend(props);
    let mut s = object(desc, all);
    s["x-kubernetes-group-version-kind"] =
        json!([{"group": group, "kind": kind, "version": version}]);
    s
}
fn list_kind(group: &str, version: &str, kind: &str, item: &str) -> Value {
    let mut s = object(
        &format!("{kind}List is a list of {kind} objects."),
        vec![
            (
                "apiVersion",
                string(
                    "APIVersion defines the versioned schema of this representation of an object.",
                ),
            ),
            (
                "items",
                array(
                    &format!("Items is a list of {kind} objects."),
                    json!({"allOf": [r(item)], "default": {}}),
                ),
            ),
            (
                "kind",
                string(
                    "Kind is a string value representing the REST resource this object represents.",
                ),
            ),
            (
                "metadata",
                refd("Standard list metadata.", &format!("{META}.ListMeta")),
            ),
        ],
    );
    s["required"] = json!(["items"]);
    s["x-kubernetes-group-version-kind"] =
        json!([{"group": group, "kind": format!("{kind}List"), "version": version}]);
    s
}

fn meta_schemas(out: &mut BTreeMap<String, Value>) {
    out.insert(format!("{META}.Time"), json!({"type": "string", "format": "date-time", "description": "Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON."}));
    out.insert("io.k8s.apimachinery.pkg.util.intstr.IntOrString".into(), json!({"type": "string", "format": "int-or-string", "x-kubernetes-int-or-string": true, "description": "IntOrString is a type that can hold an int32 or a string."}));
    out.insert(format!("{META}.ObjectMeta"), object("ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.", vec![
        ("annotations", map_string("Annotations is an unstructured key value map stored with a resource that may be set by external tools to store and retrieve arbitrary metadata. They are not queryable and should be preserved when modifying objects. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/annotations")),
        ("creationTimestamp", time("CreationTimestamp is a timestamp representing the server time when this object was created.")),
        ("deletionGracePeriodSeconds", int64("Number of seconds allowed for this object to gracefully terminate before it will be removed from the system.")),
        ("deletionTimestamp", time("DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted.")),
        ("finalizers", strings("Must be empty before the object is deleted from the registry.")),
        ("generateName", string("GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name field has not been provided.")),
        ("generation", int64("A sequence number representing a specific generation of the desired state. Populated by the system. Read-only.")),
        ("labels", map_string("Map of string keys and values that can be used to organize and categorize (scope and select) objects. May match selectors of replication controllers and services. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels")),
        ("managedFields", array("ManagedFields maps workflow-id and version to the set of fields that are managed by that workflow.", json!({"allOf": [r(&format!("{META}.ManagedFieldsEntry"))], "default": {}}))),
        ("name", string("Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")),
        ("namespace", string("Namespace defines the space within which each name must be unique. An empty namespace is equivalent to the \"default\" namespace, but \"default\" is the canonical representation. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/namespaces")),
        ("ownerReferences", array("List of objects depended by this object.", json!({"allOf": [r(&format!("{META}.OwnerReference"))], "default": {}}))),
        ("resourceVersion", string("An opaque value that represents the internal version of this object that can be used by clients to determine when objects have changed. Populated by the system. Read-only.")),
        ("selfLink", string("Deprecated: selfLink is a legacy read-only field that is no longer populated by the system.")),
        ("uid", string("UID is the unique in time and space value for this object. Populated by the system. Read-only. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#uids")),
    ]));
    out.insert(format!("{META}.ListMeta"), object("ListMeta describes metadata that synthetic resources must have, including lists and various status objects.", vec![
        ("continue", string("continue may be set if the user set a limit on the number of items returned.")),
        ("remainingItemCount", int64("remainingItemCount is the number of subsequent items in the list which are not included in this list response.")),
        ("resourceVersion", string("String that identifies the server's internal version of this object.")),
        ("selfLink", string("Deprecated: selfLink is a legacy read-only field that is no longer populated by the system.")),
    ]));
    out.insert(format!("{META}.OwnerReference"), object("OwnerReference contains enough information to let you identify an owning object.", vec![
        ("apiVersion", string("API version of the referent.")),
        ("blockOwnerDeletion", boolean("If true, AND if the owner has the \"foregroundDeletion\" finalizer, then the owner cannot be deleted from the key-value store until this reference is removed.")),
        ("controller", boolean("If true, this reference points to the managing controller.")),
        ("kind", string("Kind of the referent.")),
        ("name", string("Name of the referent.")),
        ("uid", string("UID of the referent.")),
    ]));
    let mut mfe = object(
        "ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource that the fieldset applies to.",
        vec![
            (
                "apiVersion",
                string(
                    "APIVersion defines the version of this resource that this field set applies to.",
                ),
            ),
            (
                "fieldsType",
                string(
                    "FieldsType is the discriminator for the different fields format and version.",
                ),
            ),
            (
                "manager",
                string("Manager is an identifier of the workflow managing these fields."),
            ),
            (
                "operation",
                string(
                    "Operation is the type of operation which lead to this ManagedFieldsEntry being created.",
                ),
            ),
            (
                "subresource",
                string("Subresource is the name of the subresource used to update that object."),
            ),
            (
                "time",
                time("Time is the timestamp of when the ManagedFields entry was added."),
            ),
        ],
    );
    mfe["properties"]["fieldsV1"] = json!({"type": "object", "description": "FieldsV1 holds the first JSON version format as described in the \"FieldsV1\" type.", "x-kubernetes-preserve-unknown-fields": true});
    out.insert(format!("{META}.ManagedFieldsEntry"), mfe);
    out.insert(format!("{META}.LabelSelector"), object("A label selector is a label query over a set of resources.", vec![
        ("matchExpressions", array("matchExpressions is a list of label selector requirements. The requirements are ANDed.", json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}))),
        ("matchLabels", map_string("matchLabels is a map of {key,value} pairs.")),
    ]));
    out.insert(format!("{META}.Status"), kind("Status is a return value for calls that don't return other objects.", "", "v1", "Status", vec![
        ("code", int("Suggested HTTP return code for this status, 0 if not set.")),
        ("details", json!({"type": "object", "description": "Extended data associated with the reason.", "x-kubernetes-preserve-unknown-fields": true})),
        ("message", string("A human-readable description of the status of this operation.")),
        ("reason", string("A machine-readable description of why this operation is in the \"Failure\" status.")),
        ("status", string("Status of the operation. One of: \"Success\" or \"Failure\".")),
    ]));
    out.insert(format!("{META}.Patch"), json!({"type": "object", "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body."}));
    out.insert(format!("{META}.DeleteOptions"), object("DeleteOptions may be provided when deleting an API object.", vec![
        ("apiVersion", string("APIVersion defines the versioned schema of this representation of an object.")),
        ("dryRun", strings("When present, indicates that modifications should not be persisted.")),
        ("gracePeriodSeconds", int64("The duration in seconds before the object should be deleted.")),
        ("kind", string("Kind is a string value representing the REST resource this object represents.")),
        ("orphanDependents", boolean("Deprecated: please use the PropagationPolicy.")),
        ("preconditions", json!({"type": "object", "description": "Must be fulfilled before a deletion is carried out.", "x-kubernetes-preserve-unknown-fields": true})),
        ("propagationPolicy", string("Whether and how garbage collection will be performed.")),
    ]));
}

fn pod_schemas(out: &mut BTreeMap<String, Value>) {
    let mut container = object(
        "A single application container that you want to run within a pod.",
        vec![
            ("args", strings("Arguments to the entrypoint.")),
            (
                "command",
                strings("Entrypoint array. Not executed within a shell."),
            ),
            (
                "env",
                array(
                    "List of environment variables to set in the container.",
                    json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
                ),
            ),
            (
                "image",
                string(
                    "Container image name. More info: https://kubernetes.io/docs/concepts/containers/images",
                ),
            ),
            (
                "imagePullPolicy",
                string("Image pull policy. One of Always, Never, IfNotPresent."),
            ),
            (
                "name",
                string(
                    "Name of the container specified as a DNS_LABEL. Each container in a pod must have a unique name (DNS_LABEL). Cannot be updated.",
                ),
            ),
            (
                "ports",
                array(
                    "List of ports to expose from the container.",
                    json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
                ),
            ),
            (
                "resources",
                json!({"type": "object", "description": "Compute Resources required by this container.", "x-kubernetes-preserve-unknown-fields": true}),
            ),
            ("workingDir", string("Container's working directory.")),
        ],
    );
    // Container and pod specs have many more fields than this test server
    // spells out: keep unknown ones rather than reject real manifests.
    container["x-kubernetes-preserve-unknown-fields"] = json!(true);
    container["required"] = json!(["name"]);
    out.insert(format!("{CORE}.Container"), container);
    let mut pod_spec = object(
        "PodSpec is a description of a pod.",
        vec![
            (
                "containers",
                array(
                    "List of containers belonging to the pod. Containers cannot currently be added or removed. There must be at least one container in a Pod. Cannot be updated.",
                    json!({"allOf": [r(&format!("{CORE}.Container"))], "default": {}}),
                ),
            ),
            (
                "nodeName",
                string("NodeName indicates in which node this pod is scheduled."),
            ),
            (
                "restartPolicy",
                string(
                    "Restart policy for all containers within the pod. One of Always, OnFailure, Never.",
                ),
            ),
            (
                "serviceAccountName",
                string(
                    "ServiceAccountName is the name of the ServiceAccount to use to run this pod.",
                ),
            ),
            (
                "terminationGracePeriodSeconds",
                int64("Optional duration in seconds the pod needs to terminate gracefully."),
            ),
        ],
    );
    pod_spec["x-kubernetes-preserve-unknown-fields"] = json!(true);
    out.insert(format!("{CORE}.PodSpec"), pod_spec);
    let mut pod_status = object(
        "PodStatus represents information about the status of a pod.",
        vec![
            (
                "phase",
                string(
                    "The phase of a Pod is a simple, high-level summary of where the Pod is in its lifecycle.",
                ),
            ),
            ("podIP", string("podIP address allocated to the pod.")),
            (
                "hostIP",
                string("hostIP holds the IP address of the host to which the pod is assigned."),
            ),
            (
                "startTime",
                time("RFC 3339 date and time at which the object was acknowledged by the Kubelet."),
            ),
        ],
    );
    pod_status["x-kubernetes-preserve-unknown-fields"] = json!(true);
    out.insert(format!("{CORE}.PodStatus"), pod_status);
    out.insert(
        format!("{CORE}.PodTemplateSpec"),
        object(
            "PodTemplateSpec describes the data a pod should have when created from a template",
            vec![
                (
                    "metadata",
                    refd("Standard object's metadata.", &format!("{META}.ObjectMeta")),
                ),
                (
                    "spec",
                    refd(
                        "Specification of the desired behavior of the pod.",
                        &format!("{CORE}.PodSpec"),
                    ),
                ),
            ],
        ),
    );
}

fn core_schemas(out: &mut BTreeMap<String, Value>) {
    pod_schemas(out);
    out.insert(format!("{CORE}.ConfigMap"), kind("ConfigMap holds configuration data for pods to consume.", "", "v1", "ConfigMap", vec![
        ("binaryData", json!({"type": "object", "additionalProperties": {"type": "string", "format": "byte"}, "description": "BinaryData contains the binary data. Each key must consist of alphanumeric characters, '-', '_' or '.'. BinaryData can contain byte sequences that are not in the UTF-8 range."})),
        ("data", map_string("Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.")),
        ("immutable", boolean("Immutable, if set to true, ensures that data stored in the ConfigMap cannot be updated (only object metadata can be modified).")),
    ]));
    out.insert(format!("{CORE}.Secret"), kind("Secret holds secret data of a certain type. The total bytes of the values in the Data field must be less than MaxSecretSize bytes.", "", "v1", "Secret", vec![
        ("data", json!({"type": "object", "additionalProperties": {"type": "string", "format": "byte"}, "description": "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string."})),
        ("immutable", boolean("Immutable, if set to true, ensures that data stored in the Secret cannot be updated (only object metadata can be modified).")),
        ("stringData", map_string("stringData allows specifying non-binary secret data in string form. It is provided as a write-only input field for convenience.")),
        ("type", string("Used to facilitate programmatic handling of secret data.")),
    ]));
    out.insert(
        format!("{CORE}.Namespace"),
        kind(
            "Namespace provides a scope for Names. Use of multiple namespaces is optional.",
            "",
            "v1",
            "Namespace",
            vec![
                (
                    "spec",
                    refd(
                        "Spec defines the behavior of the Namespace.",
                        &format!("{CORE}.NamespaceSpec"),
                    ),
                ),
                (
                    "status",
                    refd(
                        "Status describes the current status of a Namespace.",
                        &format!("{CORE}.NamespaceStatus"),
                    ),
                ),
            ],
        ),
    );
    out.insert(format!("{CORE}.NamespaceSpec"), object("NamespaceSpec describes the attributes on a Namespace.", vec![
        ("finalizers", strings("Finalizers is an opaque list of values that must be empty to permanently remove object from storage.")),
    ]));
    out.insert(format!("{CORE}.NamespaceStatus"), object("NamespaceStatus is information about the current status of a Namespace.", vec![
        ("conditions", array("Represents the latest available observations of a namespace's current state.", json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}))),
        ("phase", string("Phase is the current lifecycle phase of the namespace.")),
    ]));
    out.insert(format!("{CORE}.Pod"), kind("Pod is a collection of containers that can run on a host. This resource is created by clients and scheduled onto hosts.", "", "v1", "Pod", vec![
        ("spec", refd("Specification of the desired behavior of the pod.", &format!("{CORE}.PodSpec"))),
        ("status", refd("Most recently observed status of the pod.", &format!("{CORE}.PodStatus"))),
    ]));
    out.insert(format!("{CORE}.ServicePort"), object("ServicePort contains information on service's port.", vec![
        ("appProtocol", string("The application protocol for this port.")),
        ("name", string("The name of this port within the service.")),
        ("nodePort", int("The port on each node on which this service is exposed when type is NodePort or LoadBalancer.")),
        ("port", int("The port that will be exposed by this service.")),
        ("protocol", string("The IP protocol for this port. Supports \"TCP\", \"UDP\", and \"SCTP\". Default is TCP.")),
        ("targetPort", int_or_string("Number or name of the port to access on the pods targeted by the service.")),
    ]));
    let mut svc_spec = object(
        "ServiceSpec describes the attributes that a user creates on a service.",
        vec![
            (
                "clusterIP",
                string(
                    "clusterIP is the IP address of the service and is usually assigned randomly.",
                ),
            ),
            (
                "clusterIPs",
                strings("ClusterIPs is a list of IP addresses assigned to this service."),
            ),
            (
                "ports",
                array(
                    "The list of ports that are exposed by this service.",
                    json!({"allOf": [r(&format!("{CORE}.ServicePort"))], "default": {}}),
                ),
            ),
            (
                "selector",
                map_string(
                    "Route service traffic to pods with label keys and values matching this selector.",
                ),
            ),
            (
                "type",
                string("type determines how the Service is exposed. Defaults to ClusterIP."),
            ),
        ],
    );
    svc_spec["x-kubernetes-preserve-unknown-fields"] = json!(true);
    out.insert(format!("{CORE}.ServiceSpec"), svc_spec);
    out.insert(format!("{CORE}.Service"), kind("Service is a named abstraction of software service (for example, mysql) consisting of local port (for example 3306) that the proxy listens on, and the selector that determines which pods will answer requests sent through the proxy.", "", "v1", "Service", vec![
        ("spec", refd("Spec defines the behavior of a service.", &format!("{CORE}.ServiceSpec"))),
        ("status", json!({"type": "object", "description": "Most recently observed status of the service.", "x-kubernetes-preserve-unknown-fields": true})),
    ]));
    out.insert(format!("{CORE}.ServiceAccount"), kind("ServiceAccount binds together: * a name, understood by users, and perhaps by peripheral systems, for an identity * a principal that can be authenticated and authorized * a set of secrets", "", "v1", "ServiceAccount", vec![
        ("automountServiceAccountToken", boolean("AutomountServiceAccountToken indicates whether pods running as this service account should have an API token automatically mounted.")),
        ("imagePullSecrets", array("ImagePullSecrets is a list of references to secrets in the same namespace to use for pulling any images in pods that reference this ServiceAccount.", json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}))),
        ("secrets", array("Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.", json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}))),
    ]));
    out.insert(format!("{CORE}.ObjectReference"), object("ObjectReference contains enough information to let you inspect or modify the referred object.", vec![
        ("apiVersion", string("API version of the referent.")),
        ("fieldPath", string("If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement.")),
        ("kind", string("Kind of the referent.")),
        ("name", string("Name of the referent.")),
        ("namespace", string("Namespace of the referent.")),
        ("resourceVersion", string("Specific resourceVersion to which this reference is made, if any.")),
        ("uid", string("UID of the referent.")),
    ]));
    let mut event = kind(
        "Event is a report of an event somewhere in the cluster.",
        "",
        "v1",
        "Event",
        vec![
            ("count", int("The number of times this event has occurred.")),
            (
                "firstTimestamp",
                time("The time at which the event was first recorded."),
            ),
            (
                "involvedObject",
                refd(
                    "The object that this event is about.",
                    &format!("{CORE}.ObjectReference"),
                ),
            ),
            (
                "lastTimestamp",
                time("The time at which the most recent occurrence of this event was recorded."),
            ),
            (
                "message",
                string("A human-readable description of the status of this operation."),
            ),
            (
                "reason",
                string(
                    "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
                ),
            ),
            (
                "source",
                json!({"type": "object", "description": "The component reporting this event.", "x-kubernetes-preserve-unknown-fields": true}),
            ),
            (
                "type",
                string(
                    "Type of this event (Normal, Warning), new types could be added in the future",
                ),
            ),
        ],
    );
    event["x-kubernetes-preserve-unknown-fields"] = json!(true);
    out.insert(format!("{CORE}.Event"), event);
    for k in [
        "ConfigMap",
        "Secret",
        "Namespace",
        "Pod",
        "Service",
        "ServiceAccount",
        "Event",
    ] {
        out.insert(
            format!("{CORE}.{k}List"),
            list_kind("", "v1", k, &format!("{CORE}.{k}")),
        );
    }
}

fn apps_schemas(out: &mut BTreeMap<String, Value>) {
    pod_schemas(out);
    out.insert(format!("{APPS}.DeploymentSpec"), object("DeploymentSpec is the specification of the desired behavior of the Deployment.", vec![
        ("minReadySeconds", int("Minimum number of seconds for which a newly created pod should be ready without any of its container crashing, for it to be considered available.")),
        ("paused", boolean("Indicates that the deployment is paused.")),
        ("progressDeadlineSeconds", int("The maximum time in seconds for a deployment to make progress before it is considered to be failed.")),
        ("replicas", int("Number of desired pods. This is a pointer to distinguish between explicit zero and not specified. Defaults to 1.")),
        ("revisionHistoryLimit", int("The number of old ReplicaSets to retain to allow rollback.")),
        ("selector", refd("Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment. It must match the pod template's labels.", &format!("{META}.LabelSelector"))),
        ("strategy", json!({"type": "object", "description": "The deployment strategy to use to replace existing pods with new ones.", "x-kubernetes-preserve-unknown-fields": true})),
        ("template", refd("Template describes the pods that will be created. The only allowed template.spec.restartPolicy value is \"Always\".", &format!("{CORE}.PodTemplateSpec"))),
    ]));
    out.insert(
        format!("{APPS}.DeploymentCondition"),
        object(
            "DeploymentCondition describes the state of a deployment at a certain point.",
            vec![
                (
                    "lastTransitionTime",
                    time("Last time the condition transitioned from one status to another."),
                ),
                (
                    "lastUpdateTime",
                    time("The last time this condition was updated."),
                ),
                (
                    "message",
                    string("A human readable message indicating details about the transition."),
                ),
                (
                    "reason",
                    string("The reason for the condition's last transition."),
                ),
                (
                    "status",
                    string("Status of the condition, one of True, False, Unknown."),
                ),
                ("type", string("Type of deployment condition.")),
            ],
        ),
    );
    out.insert(format!("{APPS}.DeploymentStatus"), object("DeploymentStatus is the most recently observed status of the Deployment.", vec![
        ("availableReplicas", int("Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.")),
        ("conditions", array("Represents the latest available observations of a deployment's current state.", json!({"allOf": [r(&format!("{APPS}.DeploymentCondition"))], "default": {}}))),
        ("observedGeneration", int64("The generation observed by the deployment controller.")),
        ("readyReplicas", int("Total number of non-terminating pods targeted by this Deployment with a Ready Condition.")),
        ("replicas", int("Total number of non-terminating pods targeted by this deployment (their labels match the selector).")),
        ("updatedReplicas", int("Total number of non-terminating pods targeted by this deployment that have the desired template spec.")),
    ]));
    out.insert(
        format!("{APPS}.Deployment"),
        kind(
            "Deployment enables declarative updates for Pods and ReplicaSets.",
            "apps",
            "v1",
            "Deployment",
            vec![
                (
                    "spec",
                    refd(
                        "Specification of the desired behavior of the Deployment.",
                        &format!("{APPS}.DeploymentSpec"),
                    ),
                ),
                (
                    "status",
                    refd(
                        "Most recently observed status of the Deployment.",
                        &format!("{APPS}.DeploymentStatus"),
                    ),
                ),
            ],
        ),
    );
    out.insert(
        format!("{APPS}.DeploymentList"),
        list_kind("apps", "v1", "Deployment", &format!("{APPS}.Deployment")),
    );
}

fn authz_schemas(out: &mut BTreeMap<String, Value>) {
    out.insert(format!("{AUTHZ}.ResourceAttributes"), object("ResourceAttributes includes the authorization attributes available for resource requests to the Authorizer interface", vec![
        ("group", string("Group is the API Group of the Resource.  \"*\" means all.")),
        ("name", string("Name is the name of the resource being requested for a \"get\" or deleted for a \"delete\". \"\" (empty) means all.")),
        ("namespace", string("Namespace is the namespace of the action being requested.")),
        ("resource", string("Resource is one of the existing resource types.  \"*\" means all.")),
        ("subresource", string("Subresource is one of the existing resource types.  \"\" means none.")),
        ("verb", string("Verb is a kubernetes resource API verb, like: get, list, watch, create, update, delete, proxy.  \"*\" means all.")),
        ("version", string("Version is the API Version of the Resource.  \"*\" means all.")),
    ]));
    out.insert(format!("{AUTHZ}.NonResourceAttributes"), object("NonResourceAttributes includes the authorization attributes available for non-resource requests to the Authorizer interface", vec![
        ("path", string("Path is the URL path of the request")),
        ("verb", string("Verb is the standard HTTP verb")),
    ]));
    out.insert(format!("{AUTHZ}.SelfSubjectAccessReviewSpec"), object("SelfSubjectAccessReviewSpec is a description of the access request.  Exactly one of ResourceAuthorizationAttributes and NonResourceAuthorizationAttributes must be set", vec![
        ("nonResourceAttributes", refd("NonResourceAttributes describes information for a non-resource access request", &format!("{AUTHZ}.NonResourceAttributes"))),
        ("resourceAttributes", refd("ResourceAuthorizationAttributes describes information for a resource access request", &format!("{AUTHZ}.ResourceAttributes"))),
    ]));
    out.insert(format!("{AUTHZ}.SubjectAccessReviewStatus"), object("SubjectAccessReviewStatus", vec![
        ("allowed", boolean("Allowed is required. True if the action would be allowed, false otherwise.")),
        ("denied", boolean("Denied is optional. True if the action would be denied, otherwise false.")),
        ("evaluationError", string("EvaluationError is an indication that some error occurred during the authorization check.")),
        ("reason", string("Reason is optional.  It indicates why a request was allowed or denied.")),
    ]));
    out.insert(format!("{AUTHZ}.SelfSubjectAccessReview"), kind("SelfSubjectAccessReview checks whether or the current user can perform an action.", "authorization.k8s.io", "v1", "SelfSubjectAccessReview", vec![
        ("spec", refd("Spec holds information about the request being evaluated.  user and groups must be empty", &format!("{AUTHZ}.SelfSubjectAccessReviewSpec"))),
        ("status", refd("Status is filled in by the server and indicates whether the request is allowed or not", &format!("{AUTHZ}.SubjectAccessReviewStatus"))),
    ]));
}

fn authn_schemas(out: &mut BTreeMap<String, Value>) {
    out.insert(format!("{AUTHN}.UserInfo"), object("UserInfo holds the information about the user needed to implement the user.Info interface.", vec![
        ("extra", json!({"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string", "default": ""}}, "description": "Any additional information provided by the authenticator."})),
        ("groups", strings("The names of groups this user is a part of.")),
        ("uid", string("A unique value that identifies this user across time.")),
        ("username", string("The name that uniquely identifies this user among all active users.")),
    ]));
    out.insert(
        format!("{AUTHN}.SelfSubjectReviewStatus"),
        object(
            "SelfSubjectReviewStatus is filled by the kube-apiserver and sent back to a user.",
            vec![(
                "userInfo",
                refd(
                    "User attributes of the user making this request.",
                    &format!("{AUTHN}.UserInfo"),
                ),
            )],
        ),
    );
    out.insert(format!("{AUTHN}.SelfSubjectReview"), kind("SelfSubjectReview contains the user information that the kube-apiserver has about the user making this request.", "authentication.k8s.io", "v1", "SelfSubjectReview", vec![
        ("status", refd("Status is filled in by the server with the user attributes.", &format!("{AUTHN}.SelfSubjectReviewStatus"))),
    ]));
}

fn schema_name(rt: &ResourceType) -> String {
    let prefix = match rt.group {
        "" => CORE,
        "apps" => APPS,
        "authorization.k8s.io" => AUTHZ,
        _ => AUTHN,
    };
    format!("{prefix}.{}", rt.kind)
}

fn query_param(name: &str, desc: &str) -> Value {
    json!({"name": name, "in": "query", "description": desc, "schema": {"type": "string", "uniqueItems": true}})
}

fn operation(
    rt: &ResourceType,
    action: &str,
    id: &str,
    schema: &str,
    body: bool,
    params: Vec<Value>,
) -> Value {
    let gvk = json!({"group": rt.group, "version": rt.version, "kind": rt.kind});
    let mut op = json!({
        "description": format!("{action} {}", rt.kind),
        "operationId": id,
        "tags": [rt.group.replace('.', "_")],
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": r(schema)}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk,
        "parameters": params,
    });
    if body {
        let content_types: &[&str] = if action == "patch" {
            &[
                "application/apply-patch+yaml",
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/strategic-merge-patch+json",
            ]
        } else {
            &["*/*"]
        };
        let body_schema = if action == "patch" {
            r(&format!("{META}.Patch"))
        } else {
            r(schema)
        };
        let content: Map<String, Value> = content_types
            .iter()
            .map(|ct| (ct.to_string(), json!({"schema": body_schema})))
            .collect();
        op["requestBody"] = json!({"content": content, "required": true});
    }
    op
}

fn write_params(patch: bool) -> Vec<Value> {
    let mut p = vec![
        query_param(
            "dryRun",
            "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed",
        ),
        query_param(
            "fieldManager",
            "fieldManager is a name associated with the actor or entity that is making these changes.",
        ),
        query_param(
            "fieldValidation",
            "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore - Warn - Strict",
        ),
    ];
    if patch {
        p.push(json!({"name": "force", "in": "query", "description": "Force is going to \"force\" Apply requests.", "schema": {"type": "boolean", "uniqueItems": true}}));
    }
    p
}

fn paths_for(rt: &ResourceType, paths: &mut Map<String, Value>) {
    let schema = schema_name(rt);
    let list_schema = format!("{schema}List");
    let ns_part = if rt.namespaced { "Namespaced" } else { "" };
    let kind = rt.kind;
    let collection = rt.collection_path(Some("{namespace}"));
    let mut path_params = vec![
        json!({"name": "pretty", "in": "query", "description": "If 'true', then the output is pretty printed.", "schema": {"type": "string", "uniqueItems": true}}),
    ];
    if rt.namespaced {
        path_params.push(json!({"name": "namespace", "in": "path", "description": "object name and auth scope, such as for teams and projects", "required": true, "schema": {"type": "string", "uniqueItems": true}}));
    }
    let mut coll = json!({"parameters": path_params});
    if !rt.stored {
        coll["post"] = operation(
            rt,
            "post",
            &format!("create{kind}"),
            &schema,
            true,
            write_params(false),
        );
        paths.insert(collection, coll);
        return;
    }
    coll["get"] = operation(
        rt,
        "list",
        &format!("list{ns_part}{kind}"),
        &list_schema,
        false,
        vec![
            query_param(
                "labelSelector",
                "A selector to restrict the list of returned objects by their labels.",
            ),
            query_param(
                "fieldSelector",
                "A selector to restrict the list of returned objects by their fields.",
            ),
            query_param(
                "watch",
                "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.",
            ),
        ],
    );
    coll["post"] = operation(
        rt,
        "post",
        &format!("create{ns_part}{kind}"),
        &schema,
        true,
        write_params(false),
    );
    if rt.supports("deletecollection") {
        coll["delete"] = operation(
            rt,
            "deletecollection",
            &format!("deleteCollection{ns_part}{kind}"),
            &format!("{META}.Status"),
            false,
            vec![],
        );
    }
    paths.insert(collection.clone(), coll);
    let mut item_params = path_params.clone();
    item_params.push(json!({"name": "name", "in": "path", "description": format!("name of the {kind}"), "required": true, "schema": {"type": "string", "uniqueItems": true}}));
    let mut item = json!({"parameters": item_params});
    item["get"] = operation(
        rt,
        "get",
        &format!("read{ns_part}{kind}"),
        &schema,
        false,
        vec![],
    );
    item["put"] = operation(
        rt,
        "put",
        &format!("replace{ns_part}{kind}"),
        &schema,
        true,
        write_params(false),
    );
    item["patch"] = operation(
        rt,
        "patch",
        &format!("patch{ns_part}{kind}"),
        &schema,
        true,
        write_params(true),
    );
    item["delete"] = operation(
        rt,
        "delete",
        &format!("delete{ns_part}{kind}"),
        &format!("{META}.Status"),
        false,
        vec![],
    );
    paths.insert(format!("{collection}/{{name}}"), item);
}

/// One group-version document: `(path key, document, hash)`.
struct GvDoc {
    key: &'static str,
    body: Value,
    hash: String,
}

fn gv_doc(
    key: &'static str,
    group: &str,
    version: &str,
    title_schemas: fn(&mut BTreeMap<String, Value>),
) -> GvDoc {
    let mut schemas = BTreeMap::new();
    meta_schemas(&mut schemas);
    title_schemas(&mut schemas);
    let mut paths = Map::new();
    for rt in resources::in_group_version(group, version) {
        paths_for(rt, &mut paths);
    }
    let body = json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication", "name": "authorization", "in": "header"}},
        },
    });
    let hash = hex_upper(&Sha256::digest(serde_json::to_vec(&body).expect("json")));
    GvDoc { key, body, hash }
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

static DOCS: LazyLock<Vec<GvDoc>> = LazyLock::new(|| {
    vec![
        gv_doc("api/v1", "", "v1", core_schemas),
        gv_doc("apis/apps/v1", "apps", "v1", apps_schemas),
        gv_doc(
            "apis/authentication.k8s.io/v1",
            "authentication.k8s.io",
            "v1",
            authn_schemas,
        ),
        gv_doc(
            "apis/authorization.k8s.io/v1",
            "authorization.k8s.io",
            "v1",
            authz_schemas,
        ),
    ]
});

/// The hash kube-openapi gives a document: SHA-256 of its JSON, upper-case hex.
pub fn document_hash(doc: &Value) -> String {
    hex_upper(&Sha256::digest(serde_json::to_vec(doc).expect("json")))
}

/// `/openapi/v3`: the index of group-version documents.
pub fn v3_index() -> Value {
    let mut paths = Map::new();
    for d in DOCS.iter() {
        paths.insert(
            d.key.to_string(),
            json!({"serverRelativeURL": format!("/openapi/v3/{}?hash={}", d.key, d.hash)}),
        );
    }
    json!({"paths": paths})
}

/// `/openapi/v3/<key>` (`api/v1`, `apis/apps/v1`, ...) and its hash.
pub fn v3_document(key: &str) -> Option<(&'static Value, &'static str)> {
    DOCS.iter()
        .find(|d| d.key == key)
        .map(|d| (&d.body, d.hash.as_str()))
}

fn to_v2_refs(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("$ref", Value::String(s)) => {
                            json!(s.replace("#/components/schemas/", "#/definitions/"))
                        }
                        _ => to_v2_refs(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(to_v2_refs).collect()),
        other => other.clone(),
    }
}

/// `/openapi/v2` (Swagger 2.0, JSON): every schema under `definitions`.
pub fn v2_document() -> &'static Value {
    static V2: LazyLock<Value> = LazyLock::new(|| {
        let mut definitions = Map::new();
        for d in DOCS.iter() {
            if let Some(Value::Object(schemas)) = d.body["components"].get("schemas") {
                for (k, v) in schemas {
                    definitions.insert(k.clone(), to_v2_refs(v));
                }
            }
        }
        json!({
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": "v1.33.0"},
            "paths": {},
            "definitions": definitions,
            "securityDefinitions": {"BearerToken": {"type": "apiKey", "name": "authorization", "in": "header"}},
            "security": [{"BearerToken": []}],
        })
    });
    &V2
}
