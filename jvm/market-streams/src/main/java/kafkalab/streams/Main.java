package kafkalab.streams;

import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.time.Duration;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.state.Stores;

/**
 * The market processor in Kafka Streams: trades -> candles, orderbooks -> book-features, exactly once.
 *
 * Run: java -cp 'market-streams-1.jar:lib/*' kafkalab.streams.Main --bootstrap=... --application-id=...
 * --trades=... --orderbooks=... --candles=... --book-features=... --dead-letters=... --state-dir=...
 * [--lateness-ms=500 --idle-ms=2000 --max-ahead-ms=5000 --threads=1]
 *
 * Prints "STATUS ..." once a second on stdout. SIGTERM stops it cleanly: it first waits (at most
 * idle-ms + 3 s) for the idle rule to close the open windows, so a drained run emits every window,
 * then closes, committing its last transaction.
 */
public final class Main {
    private Main() {}

    static Map<String, String> parse(String[] args) {
        Map<String, String> opts = new HashMap<>();
        for (String arg : args) {
            int eq = arg.indexOf('=');
            if (!arg.startsWith("--") || eq < 0) {
                throw new IllegalArgumentException("arguments are --name=value (got " + arg + ")");
            }
            opts.put(arg.substring(2, eq), arg.substring(eq + 1));
        }
        return opts;
    }

    static String need(Map<String, String> opts, String name) {
        String v = opts.get(name);
        if (v == null || v.isEmpty()) {
            throw new IllegalArgumentException("--" + name + " is required");
        }
        return v;
    }

    static Topology topology(Map<String, String> o) {
        long lateness = Long.parseLong(o.getOrDefault("lateness-ms", "500")) * 1000;
        long idle = Long.parseLong(o.getOrDefault("idle-ms", "2000")) * 1000;
        long ahead = Long.parseLong(o.getOrDefault("max-ahead-ms", "5000")) * 1000;
        Topology t = new Topology();
        // Two sub-topologies, one task per input partition: the Python processor's PartitionWindows.
        addInput(t, "trades", need(o, "trades"), need(o, "candles"), need(o, "dead-letters"), Kind.TRADES,
                lateness, idle, ahead);
        addInput(t, "books", need(o, "orderbooks"), need(o, "book-features"), need(o, "dead-letters"), Kind.BOOKS,
                lateness, idle, ahead);
        return t;
    }

    private static void addInput(Topology t, String name, String in, String out, String dead, Kind kind,
                                 long lateness, long idle, long ahead) {
        String store = name + "-windows";
        String processor = name + "-windows-processor";
        t.addSource(name + "-source", in);
        String outSink = name + "-to-" + out, deadSink = name + "-to-" + dead;  // names are global to a topology
        t.addProcessor(processor, () -> new WindowProcessor(kind, store, outSink, deadSink, lateness, idle, ahead),
                name + "-source");
        // In memory, cached (writes to one window within a commit interval reach the changelog once),
        // changelogged (the changelog topic is what restores it after a crash or a move).
        t.addStateStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(store), Serdes.String(),
                Serdes.ByteArray()).withCachingEnabled().withLoggingEnabled(Map.of("min.insync.replicas", "2")),
                processor);
        t.addSink(outSink, out, processor);
        t.addSink(deadSink, dead, processor);
    }

    static Properties settings(Map<String, String> o) {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, need(o, "application-id"));
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, need(o, "bootstrap"));
        p.put(StreamsConfig.STATE_DIR_CONFIG, need(o, "state-dir"));
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, o.getOrDefault("threads", "1"));
        p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, o.getOrDefault("replication-factor", "3"));
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.ByteArray().getClass());
        p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.ByteArray().getClass());
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
        p.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), "5");
        return p;
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opts;
        Topology topology;
        Properties props;
        try {
            opts = parse(args);
            topology = topology(opts);
            props = settings(opts);
        } catch (IllegalArgumentException e) {
            System.err.println("market-streams: " + e.getMessage());
            System.exit(2);
            return;
        }
        long idleMs = Long.parseLong(opts.getOrDefault("idle-ms", "2000"));
        long statusMs = Long.parseLong(opts.getOrDefault("status-ms", "1000"));  // benchmarks ask for finer
        KafkaStreams streams = new KafkaStreams(topology, props);
        CountDownLatch stopped = new CountDownLatch(1);
        int[] exit = {0};
        streams.setUncaughtExceptionHandler(e -> {
            System.err.println("market-streams: failed: " + e);
            exit[0] = 1;
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        streams.setStateListener((now, before) -> {
            System.out.println(Stats.line(now.name()));
            if (now == KafkaStreams.State.NOT_RUNNING || now == KafkaStreams.State.ERROR) {
                stopped.countDown();
            }
        });
        Thread status = new Thread(() -> {
            while (true) {
                System.out.println(Stats.line(streams.state().name()));
                try {
                    Thread.sleep(statusMs);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "status");
        status.setDaemon(true);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            long deadline = System.currentTimeMillis() + idleMs + 3000;
            while (Stats.OPEN_WINDOWS.get() > 0 && streams.state() == KafkaStreams.State.RUNNING
                    && System.currentTimeMillis() < deadline) {
                try {
                    Thread.sleep(50);  // the idle punctuator closes the windows; wait for it, bounded
                } catch (InterruptedException e) {
                    break;
                }
            }
            streams.close(Duration.ofSeconds(30));
            System.out.println(Stats.line("STOPPED"));
            System.out.flush();
        }, "shutdown"));
        streams.start();
        status.start();
        stopped.await();
        System.exit(exit[0]);
    }
}
