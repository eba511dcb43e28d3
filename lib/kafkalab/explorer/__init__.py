"""JupyterLab's view of the Kafka cluster: the introduction's helpers (kafka-python, as the
course uses) and the cluster explorer (brokers, topics, partitions, consumer groups, a
message browser that decodes our formats from their headers): the local Kafdrop.

It sits beside pipeline/: it uses the Kafka transport's clients and cluster manager.
"""
