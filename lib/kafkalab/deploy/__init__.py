"""The lab on Kubernetes: manifests generated from the declarations the code already has.

Nothing here talks to a cluster. `kafkalab k8s generate` writes k8s/ from the topic table
(kafkalab.transports.kafka.topics), the settings module (kafkalab.config: Kafka version,
environment variable names) and docker-compose.yml (the lab image, the components, their
notebooks and papermill parameters, the stop wrapper); `--check` fails when the committed
files differ. The tests validate the result offline (Kubernetes' own schemas for built-in
kinds, the project's small schemas under k8s/schemas/ for the operators' custom resources).
"""
