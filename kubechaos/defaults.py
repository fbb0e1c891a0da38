"""Upstream Kubernetes defaults the model runs with, each with where it comes from.

The model targets **Kubernetes v1.32**. Every timing that shapes recovery lives here and nowhere
else; a scenario overrides any of them by its camelCase name under ``spec.cluster.settings``
(see :meth:`Settings.with_overrides`). Values are seconds unless the name says otherwise.
"""

from __future__ import annotations

from typing import Any

import attrs

TARGET_RELEASE = "v1.32"


def _setting(default: Any, source: str) -> Any:
    return attrs.field(default=default, metadata={"source": source})


def _number(default: float, source: str) -> Any:
    """A setting that is a plain number (a rate, a fraction), not a duration."""
    return attrs.field(default=default, metadata={"source": source, "number": True})


@attrs.frozen
class Settings:
    """The tunable timings and sizes of one modelled cluster."""

    # --- node lifecycle controller (kube-controller-manager) ---
    node_monitor_period: float = _setting(
        5.0, "kube-controller-manager --node-monitor-period (pkg/controller/nodelifecycle)"
    )
    node_monitor_grace_period: float = _setting(
        50.0,
        "kube-controller-manager --node-monitor-grace-period: 40s before v1.32, 50s from v1.32",
    )
    node_startup_grace_period: float = _setting(
        60.0, "kube-controller-manager --node-startup-grace-period"
    )
    node_eviction_rate: float = _number(
        0.1,
        "kube-controller-manager --node-eviction-rate (cmd/kube-controller-manager/app/options/"
        "nodelifecyclecontroller.go): nodes per second given NoExecute taints in a healthy zone",
    )
    secondary_node_eviction_rate: float = _number(
        0.01,
        "kube-controller-manager --secondary-node-eviction-rate: nodes per second tainted in a "
        "partially disrupted zone of more than largeClusterSizeThreshold nodes (0 in smaller)",
    )
    unhealthy_zone_threshold: float = _number(
        0.55,
        "kube-controller-manager --unhealthy-zone-threshold: fraction of a zone's nodes not Ready "
        "(and more than 2) that puts it in PartialDisruption",
    )
    large_cluster_size_threshold: int = _setting(
        50,
        "kube-controller-manager --large-cluster-size-threshold: a zone of more nodes keeps "
        "tainting at the secondary rate when partially disrupted",
    )
    # --- API server admission ---
    default_not_ready_toleration_seconds: int = _setting(
        300, "kube-apiserver --default-not-ready-toleration-seconds (DefaultTolerationSeconds)"
    )
    default_unreachable_toleration_seconds: int = _setting(
        300, "kube-apiserver --default-unreachable-toleration-seconds (DefaultTolerationSeconds)"
    )
    etcd_compaction_interval: float = _setting(300.0, "kube-apiserver --etcd-compaction-interval")
    watch_cache_size: int = _setting(
        10_000, "events the API server's watch cache keeps per resource before a watch gets 410"
    )
    # --- API clients ---
    client_connect_timeout_seconds: float = _setting(
        30.0,
        "client-go transport/cache.go: net.Dialer{Timeout: 30s}; what a request to an API "
        "server it cannot reach costs a client without a shorter timeout (the kubelet's "
        "heartbeat client has one: min(nodeStatusUpdateFrequency, nodeLeaseDurationSeconds), "
        "cmd/kubelet/app/server.go buildKubeletClientConfig)",
    )
    # --- kubelet ---
    node_status_update_frequency: float = _setting(
        10.0, "KubeletConfiguration.nodeStatusUpdateFrequency"
    )
    node_status_report_frequency: float = _setting(
        300.0, "KubeletConfiguration.nodeStatusReportFrequency"
    )
    node_lease_duration_seconds: int = _setting(
        40, "KubeletConfiguration.nodeLeaseDurationSeconds (renewed every 1/4 of it)"
    )
    # --- a node's boot (a reboot: a node-crash reverted); see kubechaos/node/boot.py ---
    node_boot_duration: float = _setting(
        30.0,
        "power-on to kubelet.service started: firmware, kernel and systemd of a cloud VM "
        "(stated basis: a Linux VM on EC2 or GCE reboots to systemd's multi-user target in "
        "~20-45 s)",
    )
    kubelet_startup_duration: float = _setting(
        3.0,
        "the kubelet process's start to its first API request: configuration, certificates, "
        "cAdvisor and container manager (stated basis: kubelet logs show 'Attempting to register "
        "node' 2-5 s after 'Starting kubelet')",
    )
    container_runtime_startup_duration: float = _setting(
        2.0,
        "then until containerd answers CRI Status RuntimeReady after a reboot (stated basis: "
        "containerd restores its state and cleans up dead shims in 1-3 s)",
    )
    cni_startup_duration: float = _setting(
        10.0,
        "then until the runtime reports NetworkReady: the CNI agent DaemonSet's pod starts "
        "and writes /etc/cni/net.d (stated basis: Calico and Cilium agents take ~5-20 s)",
    )
    node_heartbeat_jitter_factor: float = _number(
        0.04,
        "wait.JitterUntil(f, period, 0.04, sliding=true): the node lease controller "
        "(component-helpers/apimachinery/lease/controller.go Run) and the kubelet's node status "
        "loop (pkg/kubelet/kubelet.go Run, syncNodeStatus); 0 renews on a fixed period",
    )
    crash_loop_backoff_initial: float = _setting(
        10.0, "kubelet container restart backoff: initial (pkg/kubelet/kubelet.go backOffPeriod)"
    )
    crash_loop_backoff_max: float = _setting(
        300.0, "kubelet container restart backoff: cap (MaxContainerBackOff)"
    )
    crash_loop_backoff_reset: float = _setting(
        600.0, "kubelet backoff entry expires after 2 x the cap of clean running (flowcontrol)"
    )
    pleg_relist_period: float = _setting(
        1.0,
        "pkg/kubelet/kubelet.go genericPlegRelistPeriod (pkg/kubelet/pleg/generic.go relist): "
        "how often the kubelet lists the runtime and sees containers that exited; 0: at once",
    )
    pod_worker_backoff_period: float = _setting(
        10.0,
        "pkg/kubelet/kubelet.go backOffPeriod, the pod workers' retry of a failed sync (a "
        "container in CrashLoopBackOff) after wait.Jitter(10s, 0.5) (pod_workers.go "
        "completeWork; kubernetes#123602); 0: restart exactly when the back-off expires",
    )
    pod_worker_backoff_jitter: float = _number(
        0.5, "pkg/kubelet/pod_workers.go workerBackOffPeriodJitterFactor"
    )
    probe_timeout_seconds: int = _setting(1, "Probe.timeoutSeconds default")
    probe_period_seconds: int = _setting(10, "Probe.periodSeconds default")
    probe_success_threshold: int = _setting(1, "Probe.successThreshold default")
    probe_failure_threshold: int = _setting(3, "Probe.failureThreshold default")
    probe_initial_delay_seconds: int = _setting(0, "Probe.initialDelaySeconds default")
    termination_grace_period_seconds: int = _setting(
        30, "PodSpec.terminationGracePeriodSeconds default"
    )
    max_pods: int = _setting(110, "KubeletConfiguration.maxPods")
    # --- kube-proxy (iptables mode) ---
    proxy_sync_period: float = _setting(30.0, "kube-proxy --iptables-sync-period")
    proxy_min_sync_period: float = _setting(1.0, "kube-proxy --iptables-min-sync-period")
    proxy_burst_syncs: int = _setting(
        2,
        "kube-proxy iptables proxier burstSyncs (pkg/proxy/iptables/proxier.go): syncs that may "
        "run back to back before minSyncPeriod spaces them",
    )
    proxy_full_sync_period: float = _setting(
        3600.0,
        "kube-proxy proxyutil.FullSyncPeriod (1h); in between only changed services' chains are "
        "rewritten (MinimizeIPTablesRestore, on by default since v1.27)",
    )
    proxy_sync_base_seconds: float = _setting(
        0.05,
        "model: fixed cost of one iptables sync (iptables-save + iptables-restore); a sync of a "
        "small table took ~60ms in kubernetes#34006",
    )
    proxy_sync_seconds_per_rule: float = _setting(
        3e-5,
        "model: cost per rule written (one per service in KUBE-SERVICES, one per endpoint); puts "
        "a full sync of 5,000 services x 30 endpoints at ~4.7 s, the 4-5 s iptables-restore "
        "runs reported for large clusters in kubernetes#92836",
    )
    # --- kube-controller-manager workloads ---
    deployment_max_unavailable: str = _setting("25%", "RollingUpdateDeployment.maxUnavailable")
    deployment_max_surge: str = _setting("25%", "RollingUpdateDeployment.maxSurge")
    deployment_revision_history_limit: int = _setting(10, "DeploymentSpec.revisionHistoryLimit")
    deployment_progress_deadline_seconds: int = _setting(
        600, "DeploymentSpec.progressDeadlineSeconds"
    )
    workqueue_base_delay: float = _setting(
        0.005, "client-go DefaultControllerRateLimiter: per-item exponential base (5ms)"
    )
    workqueue_max_delay: float = _setting(
        1000.0, "client-go DefaultControllerRateLimiter: per-item exponential cap (1000s)"
    )
    workqueue_qps: float = _setting(10.0, "client-go DefaultControllerRateLimiter: bucket qps")
    workqueue_burst: int = _setting(100, "client-go DefaultControllerRateLimiter: bucket burst")
    concurrent_deployment_syncs: int = _setting(5, "--concurrent-deployment-syncs")
    concurrent_replicaset_syncs: int = _setting(5, "--concurrent-replicaset-syncs")
    concurrent_endpoint_syncs: int = _setting(5, "--concurrent-endpoint-syncs")
    concurrent_statefulset_syncs: int = _setting(5, "--concurrent-statefulset-syncs")
    concurrent_service_endpoint_syncs: int = _setting(
        5, "--concurrent-service-endpoint-syncs (EndpointSlice controller workers)"
    )
    max_endpoints_per_slice: int = _setting(
        100, "--max-endpoints-per-slice (pkg/controller/endpointslice, default 100)"
    )
    endpointslice_updates_batch_period: float = _setting(
        0.0,
        "--endpointslice-updates-batch-period: pod changes within it are synced together "
        "(default 0: each at once)",
    )
    concurrent_gc_syncs: int = _setting(20, "--concurrent-gc-syncs")
    crd_finalizer_poll_interval: float = _setting(
        5.0, "apiextensions-apiserver crd_finalizer.go: wait.PollImmediate(5*time.Second, ...)"
    )
    crd_finalizer_poll_timeout: float = _setting(
        60.0, "crd_finalizer.go: instances must be gone within 1*time.Minute, else retried"
    )
    pdb_deletion_timeout: float = _setting(
        120.0, "pkg/controller/disruption/disruption.go DeletionTimeout (2 min)"
    )
    drain_evict_retry_seconds: float = _setting(
        5.0, "staging/src/k8s.io/kubectl/pkg/drain/drain.go: a refused eviction retried every 5 s"
    )
    drain_wait_for_delete_interval: float = _setting(
        1.0,
        "staging/src/k8s.io/kubectl/pkg/drain/drain.go waitForDelete: after an eviction, kubectl "
        "polls the pod every 1 s until it is gone (or replaced by a new UID)",
    )
    # --- horizontal pod autoscaler (kube-controller-manager) and metrics-server ---
    hpa_sync_period: float = _setting(
        15.0, "kube-controller-manager --horizontal-pod-autoscaler-sync-period"
    )
    hpa_tolerance: float = _setting(
        0.1, "kube-controller-manager --horizontal-pod-autoscaler-tolerance"
    )
    hpa_downscale_stabilization: float = _setting(
        300.0, "kube-controller-manager --horizontal-pod-autoscaler-downscale-stabilization"
    )
    hpa_cpu_initialization_period: float = _setting(
        300.0, "kube-controller-manager --horizontal-pod-autoscaler-cpu-initialization-period"
    )
    hpa_initial_readiness_delay: float = _setting(
        30.0, "kube-controller-manager --horizontal-pod-autoscaler-initial-readiness-delay"
    )
    metrics_resolution: float = _setting(
        15.0, "metrics-server --metric-resolution (a scrape of every kubelet every 15 s)"
    )
    cpu_per_request_millis: float = _setting(
        10.0,
        "model: CPU one served Service request costs its pod's first container, in "
        "millicore-seconds (10 ms of one core); per pod: the kubechaos.io/cpu-per-request "
        "annotation",
    )
    cpu_idle_millis: float = _setting(
        1.0,
        "model: CPU every running container uses with no traffic, in millicores; per pod: the "
        "kubechaos.io/cpu-idle annotation",
    )
    # --- kube-scheduler ---
    pod_initial_backoff: float = _setting(
        1.0, "KubeSchedulerConfiguration podInitialBackoffSeconds"
    )
    pod_max_backoff: float = _setting(10.0, "KubeSchedulerConfiguration podMaxBackoffSeconds")
    pod_max_in_unschedulable: float = _setting(
        300.0, "scheduler podMaxInUnschedulablePodsDuration (flush of unschedulable pods)"
    )
    percentage_of_nodes_to_score: int = _setting(
        0,
        "KubeSchedulerConfiguration.percentageOfNodesToScore (0 = adaptive 50 - nodes/125, >= 5%)",
    )
    # --- leader election (kube-scheduler, kube-controller-manager) ---
    leader_elect: bool = _setting(
        True,
        "--leader-elect (component-base/config/v1alpha1 defaults.go "
        "RecommendedDefaultLeaderElectionConfiguration: LeaderElect true)",
    )
    leader_election_lease_duration: float = _setting(
        15.0, "--leader-elect-lease-duration (component-base/config/v1alpha1 defaults.go)"
    )
    leader_election_renew_deadline: float = _setting(
        10.0, "--leader-elect-renew-deadline (component-base/config/v1alpha1 defaults.go)"
    )
    leader_election_retry_period: float = _setting(
        2.0,
        "--leader-elect-retry-period (component-base/config/v1alpha1 defaults.go); a candidate "
        "retries after it plus up to JitterFactor 1.2 times it (client-go leaderelection.go)",
    )
    control_plane_restart_delay: float = _setting(
        1.0,
        "model: an exited kube-scheduler/kube-controller-manager (static pods) is restarted by "
        "the kubelet once PLEG notices (genericPlegRelistPeriod 1s, pkg/kubelet/kubelet.go); "
        "the first restart has no back-off, later ones within crashLoopBackoffReset wait the "
        "CrashLoopBackOff (10s doubling to 300s) on top",
    )
    image_size_mib: int = _setting(
        200,
        "model: the size of every image, in MiB (the model has no registry); what a node reports "
        "in status.images and ImageLocality scores (upstream's range is 23..1000 MB a container)",
    )
    node_status_max_images: int = _setting(
        50, "KubeletConfiguration nodeStatusMaxImages: images reported in a Node's status.images"
    )
    min_candidate_nodes_percentage: int = _setting(
        10, "DefaultPreemptionArgs.minCandidateNodesPercentage (preemption's dry run, 0-100)"
    )
    min_candidate_nodes_absolute: int = _setting(
        100, "DefaultPreemptionArgs.minCandidateNodesAbsolute (preemption's dry run)"
    )
    # --- etcd ---
    etcd_heartbeat_interval: float = _setting(0.1, "etcd --heartbeat-interval (100ms)")
    etcd_election_timeout: float = _setting(1.0, "etcd --election-timeout (1000ms)")
    # --- latency model of the modelled machines (not upstream settings; measured-order values) ---
    etcd_read_latency: float = _setting(0.001, "model: etcd read, seconds (mean)")
    etcd_write_latency: float = _setting(0.004, "model: etcd write incl. raft commit (mean)")
    apiserver_latency: float = _setting(0.001, "model: API server handling, seconds (mean)")
    image_pull_seconds: float = _setting(2.0, "model: first pull of an image on a node (mean)")
    container_create_seconds: float = _setting(0.1, "model: CRI CreateContainer (mean)")
    container_start_seconds: float = _setting(0.2, "model: CRI StartContainer (mean)")
    sandbox_create_seconds: float = _setting(0.5, "model: CRI RunPodSandbox incl. CNI (mean)")
    request_latency_seconds: float = _setting(0.002, "model: one service request's network RTT")
    request_timeout_seconds: float = _setting(
        1.0,
        "model: the client's timeout, what a request to a hung process, a dead node or a dropped "
        "packet costs it: Linux retransmits an unanswered SYN after 1 s (TCP_TIMEOUT_INIT), a "
        "common client connect timeout",
    )
    traffic_tick_seconds: float = _setting(
        0.1,
        "model: traffic is generated in batches this far apart; fractions of a request carry "
        "over, so long-run rates are exact",
    )
    # --- external processes of a run (run --exec, spec.processes) ---
    process_termination_grace: float = _setting(
        30.0,
        "SIGTERM, then SIGKILL this long after, at the end of a run: the kubelet's stop of a "
        "container with the default terminationGracePeriodSeconds (30)",
    )
    process_output_kib: float = _number(
        64,
        "model: the last KiB of each external process's stdout+stderr kept for the report",
    )

    def with_overrides(self, overrides: dict[str, Any]) -> Settings:
        """Return a copy with ``overrides`` (camelCase names, as in scenario files) applied.

        Raises ``KeyError`` naming the first unknown setting.
        """
        by_camel = {to_camel(f.name): f for f in attrs.fields(Settings)}
        changes: dict[str, Any] = {}
        for key, value in overrides.items():
            field = by_camel.get(key)
            if field is None:
                raise KeyError(key)
            changes[field.name] = value
        return attrs.evolve(self, **changes)

    @staticmethod
    def names() -> dict[str, str]:
        """camelCase setting name -> upstream source, for docs and error messages."""
        return {to_camel(f.name): f.metadata["source"] for f in attrs.fields(Settings)}

    @staticmethod
    def is_number(camel_name: str) -> bool:
        """Whether the setting is a plain number (a rate, a fraction) rather than a duration."""
        return any(
            to_camel(f.name) == camel_name and f.metadata.get("number", False)
            for f in attrs.fields(Settings)
        )

    @staticmethod
    def field_type(camel_name: str) -> type:
        for f in attrs.fields(Settings):
            if to_camel(f.name) == camel_name:
                return type(f.default)
        raise KeyError(camel_name)


def to_camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.capitalize() for part in rest)


DEFAULT_SETTINGS = Settings()

# Well-known names used across components.
NODE_LEASE_NAMESPACE = "kube-node-lease"
TAINT_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"
TAINT_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
POD_TEMPLATE_HASH_LABEL = "pod-template-hash"
DEPLOYMENT_REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
BEHAVIOUR_ANNOTATION = "kubechaos.io/behaviour"
# The load model (kubechaos.node.metricsserver): CPU a served request costs (a CPU quantity read
# as core-seconds, e.g. "20m" = 20 ms of one core), on the pod's first container or, with the
# ".<container>" suffix, on the container named; and a container's idle CPU (a CPU quantity).
CPU_PER_REQUEST_ANNOTATION = "kubechaos.io/cpu-per-request"
CPU_IDLE_ANNOTATION = "kubechaos.io/cpu-idle"
SERVICE_CIDR = "10.96.0.0/12"
CLUSTER_CIDR = "10.128.0.0/9"  # room for a /24 per node at 5,000+ nodes

# Fixed sizes of the node lifecycle controller (not flags upstream).
# nodeUpdateWorkerSize, pkg/controller/nodelifecycle/node_lifecycle_controller.go: workers that
# update node health and taints in parallel (also tainteviction.UpdateWorkerSize).
NODE_UPDATE_WORKER_SIZE = 8
# nodeStatusUpdateRetry, same file: attempts to write a node's Unknown status before giving up
# until the next monitor pass.
NODE_STATUS_UPDATE_RETRY = 5
# pkg/controller/nodelifecycle/scheduler/rate_limited_queue.go: the per-zone tainting queues are
# token buckets of burst 1 (EvictionRateLimiterBurst), tried every NodeEvictionPeriod (100 ms).
EVICTION_RATE_LIMITER_BURST = 1
NODE_EVICTION_PERIOD = 0.1
# A tainting attempt that found no Ready condition is retried after 50 ms (doNoExecuteTaintingPass).
NODE_TAINT_RETRY = 0.05
# Nodes labelled with this key are left out of zone states (isNodeExcludedFromDisruptionChecks).
LABEL_EXCLUDE_DISRUPTION = "node.kubernetes.io/exclude-disruption"
LABEL_ZONE = "topology.kubernetes.io/zone"
LABEL_REGION = "topology.kubernetes.io/region"
LABEL_ZONE_BETA = "failure-domain.beta.kubernetes.io/zone"
LABEL_REGION_BETA = "failure-domain.beta.kubernetes.io/region"

# kube-scheduler constants (not settings: fixed in the upstream source, v1.32).
DEFAULT_SCHEDULER_NAME = "default-scheduler"  # v1.DefaultSchedulerName
# pkg/scheduler/schedule_one.go: however small percentageOfNodesToScore is, the filter pass looks
# for at least this many feasible nodes, and never for fewer than this percentage of the nodes.
SCHEDULER_MIN_FEASIBLE_NODES_TO_FIND = 100  # minFeasibleNodesToFind
SCHEDULER_MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5  # minFeasibleNodesPercentageToFind
SCHEDULER_MAX_NODE_SCORE = 100  # pkg/scheduler/framework MaxNodeScore
# pkg/scheduler/util/pod_resources.go: scoring counts a container without a request as this much,
# so pods that request nothing still spread (filtering uses the real requests).
SCHEDULER_DEFAULT_MILLI_CPU_REQUEST = 100  # DefaultMilliCPURequest (0.1 core)
SCHEDULER_DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024  # DefaultMemoryRequest (200 MiB)
# pkg/scheduler/apis/config/v1/default_plugins.go score weights: NodeResourcesFit 1,
# PodTopologySpread 2, InterPodAffinity 2.
SCHEDULER_WEIGHT_NODE_RESOURCES_FIT = 1
SCHEDULER_WEIGHT_POD_TOPOLOGY_SPREAD = 2
# ... and TaintToleration 3, NodeAffinity 2, NodeResourcesBalancedAllocation 1, ImageLocality 1.
SCHEDULER_WEIGHT_TAINT_TOLERATION = 3
SCHEDULER_WEIGHT_NODE_AFFINITY = 2
SCHEDULER_WEIGHT_BALANCED_ALLOCATION = 1
SCHEDULER_WEIGHT_IMAGE_LOCALITY = 1
# pkg/scheduler/framework/plugins/imagelocality/image_locality.go: the image score range; a
# node's summed (spread-scaled) image sizes below the minimum score 0, above the maximum times
# the pod's container count score 100.
SCHEDULER_IMAGE_MIN_THRESHOLD = 23 * 1024 * 1024  # minThreshold (23 MB)
SCHEDULER_IMAGE_MAX_CONTAINER_THRESHOLD = 1000 * 1024 * 1024  # maxContainerThreshold (1000 MB)
SCHEDULER_WEIGHT_INTER_POD_AFFINITY = 2
# InterPodAffinityArgs.hardPodAffinityWeight (pkg/scheduler/apis/config/v1/defaults.go): what an
# existing pod's *required* affinity term matching the incoming pod adds to its domain's score.
SCHEDULER_HARD_POD_AFFINITY_WEIGHT = 1
# PodTopologySpread's system default constraints (podtopologyspread/plugin.go
# systemDefaultConstraints, defaultingType List... System): (topologyKey, maxSkew), ScheduleAnyway,
# for pods without constraints of their own, selecting the pod's Services/ReplicaSet/StatefulSet.
SCHEDULER_DEFAULT_SPREAD_CONSTRAINTS = (
    ("kubernetes.io/hostname", 3),
    ("topology.kubernetes.io/zone", 5),
)
# The model's own bound (no upstream counterpart; upstream parses per attempt): how many pod
# templates' parsed PreFilter inputs the scheduler keeps (control/scheduler/templates.py).
SCHEDULER_PLACEMENT_MEMO_SIZE = 4096

# kube-controller-manager workload controller constants (fixed in the upstream source, v1.32).
# pkg/controller/deployment/util/deployment_util.go: annotations a Deployment keeps on its
# ReplicaSets so a later sync can tell a scaling event from a rollout and scale proportionally.
DEPLOYMENT_DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
DEPLOYMENT_MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
# The annotation kubectl apply keeps; never copied from a Deployment to its ReplicaSets.
KUBECTL_LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
# Pods with a lower cost are scaled down first (PodDeletionCost, beta and on by default).
POD_DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"
REPLICASET_BURST_REPLICAS = 500  # pkg/controller/replicaset BurstReplicas: creates/deletes per sync
SLOW_START_INITIAL_BATCH_SIZE = 1  # pkg/controller/controller_utils.go SlowStartInitialBatchSize
CONTROLLER_EXPECTATIONS_TIMEOUT = 300.0  # controller_utils.go ExpectationsTimeout (5 min)
# pkg/controller/daemon (v1.32): DaemonSet controller constants.
DAEMONSET_BURST_REPLICAS = 250  # daemon_controller.go BurstReplicas: creates/deletes per sync
DAEMONSET_CONCURRENT_SYNCS = 2  # --concurrent-daemonset-syncs default
DAEMONSET_FAILED_POD_BACKOFF_INITIAL = 1.0  # failedPodsBackoff: flowcontrol.NewBackOff(1s, 15m)
DAEMONSET_FAILED_POD_BACKOFF_MAX = 900.0
# The annotation apps/v1 shows spec.templateGeneration as (pkg/apis/apps/v1 conversion), and the
# labels the controller puts on its pods (util.CreatePodTemplate; apps/v1 types.go).
DAEMONSET_TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"
DAEMONSET_TEMPLATE_GENERATION_LABEL = "pod-template-generation"
CONTROLLER_REVISION_HASH_LABEL = "controller-revision-hash"
# Node condition taints (k8s.io/api/core/v1 well_known_taints.go) DaemonSet pods tolerate.
TAINT_DISK_PRESSURE = "node.kubernetes.io/disk-pressure"
TAINT_MEMORY_PRESSURE = "node.kubernetes.io/memory-pressure"
TAINT_PID_PRESSURE = "node.kubernetes.io/pid-pressure"
TAINT_NETWORK_UNAVAILABLE = "node.kubernetes.io/network-unavailable"
# StatefulSet pod identity labels (k8s.io/api/apps/v1/types.go: StatefulSetPodNameLabel,
# PodIndexLabel (PodIndexLabel gate, beta and on since v1.28); the controller-revision-hash
# label is CONTROLLER_REVISION_HASH_LABEL above).
STATEFULSET_POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
STATEFULSET_POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
# pkg/controller/statefulset/stateful_set_control.go MaxBatchSize: the cap of a Parallel
# StatefulSet's slow-start batches.
STATEFULSET_MAX_BATCH_SIZE = 500

# Kubelet internals that are constants upstream (not KubeletConfiguration fields).
NODE_LEASE_RENEW_INTERVAL_FRACTION = 0.25  # pkg/kubelet/kubelet.go nodeLeaseRenewIntervalFraction
NODE_LEASE_UPDATE_RETRIES = 5  # k8s.io/component-helpers/apimachinery/lease: maxUpdateRetries
NODE_LEASE_BACKOFF_INITIAL = 0.2  # lease controller backoffEnsureLease: 100ms, doubled first
NODE_LEASE_BACKOFF_MAX = 7.0  # lease controller maxBackoff
KUBELET_NODE_STATUS_UPDATE_RETRY = 5  # pkg/kubelet/kubelet.go nodeStatusUpdateRetry
NODE_REGISTRATION_BACKOFF_INITIAL = 0.1  # kubelet_node_status.go registerWithAPIServer: 100ms
NODE_REGISTRATION_BACKOFF_MAX = 7.0  # ... doubling, capped at 7s
POD_STATUS_SYNC_PERIOD = 10.0  # pkg/kubelet/status/status_manager.go syncPeriod (retries)
POD_STATUS_CONFLICT_RETRIES = 5  # model: re-reads after a Conflict before waiting a syncPeriod
LABEL_HOSTNAME = "kubernetes.io/hostname"
LABEL_OS = "kubernetes.io/os"
LABEL_ARCH = "kubernetes.io/arch"

# Job controller constants (pkg/controller/job, v1.32).
# job_controller.go DefaultJobPodFailureBackOff / MaxJobPodFailureBackOff: the delay before a
# replacement after pod failures is 10 s doubling per consecutive failure, capped at 10 min
# (the "Jobs" docs still say six minutes, the value before v1.28's backoff_utils.go rewrite).
JOB_POD_FAILURE_BACKOFF = 10.0
JOB_POD_FAILURE_BACKOFF_MAX = 600.0
JOB_SYNC_BATCH_PERIOD = 1.0  # job_controller.go syncJobBatchPeriod: pod events batched 1 s
JOB_DEFAULT_BACKOFF_LIMIT = 6  # pkg/apis/batch/v1/defaults.go
JOB_TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"  # batch.JobTrackingFinalizer
JOB_COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
JOB_CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
LEGACY_JOB_NAME_LABEL = "job-name"
LEGACY_CONTROLLER_UID_LABEL = "controller-uid"

# Pod garbage collector constants (pkg/controller/podgc/gc_controller.go, v1.32).
POD_GC_CHECK_PERIOD = 20.0  # gcCheckPeriod: how often the pass runs
POD_GC_QUARANTINE = 40.0  # quarantineTime: a pod's node must stay absent this long before a GET
TAINT_OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"  # v1.TaintNodeOutOfService
