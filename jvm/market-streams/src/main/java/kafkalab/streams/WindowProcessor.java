package kafkalab.streams;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * The windows of one input partition (one Streams task), with the rules of kafkalab.core.windowing:
 * watermark = max event time seen in the partition - allowed lateness; a window [start, start + 1 s)
 * closes, once, when the watermark reaches its end; a record of a closed window is late and goes to
 * dead-letters. The idle rule (no record in any partition of the input for idle_timeout: time moves
 * on with the wall clock) runs in a wall-clock punctuator.
 *
 * Why the Processor API and not windowedBy().aggregate().suppress(): the DSL closes a window at the
 * same point (stream time - grace >= window end) but drops late records silently and has no idle rule,
 * so the last windows of a run would never close.
 *
 * State: the open windows and the two watermark facts live in a changelogged key-value store, so a
 * restarted task resumes from the store (restored from its changelog topic) and the input offsets
 * committed with it in the same transaction (exactly_once_v2); nothing is replayed from the input.
 */
final class WindowProcessor implements Processor<byte[], byte[], byte[], byte[]> {
    static final long WINDOW_US = 1_000_000L;
    static final long NEVER = -(1L << 62);
    private static final String CLOSED = "#closed";
    private static final String MAX_EVENT = "#max";
    // Last arrival (wall clock, us) per input and partition of this instance: the idle rule applies only
    // when every partition of the input is idle (a quiet partition beside busy ones is failing over).
    private static final Map<String, Map<Integer, Long>> ARRIVALS = new ConcurrentHashMap<>();

    private final Kind kind;
    private final String storeName, outSink, deadSink;
    private final long latenessUs, idleUs, maxAheadUs;
    private ProcessorContext<byte[], byte[]> context;
    private KeyValueStore<String, byte[]> store;
    private final Map<String, Long> openEnds = new HashMap<>();  // window key -> its end: what may close
    private long closedThrough = NEVER, maxEvent = NEVER;
    private int partition;

    WindowProcessor(Kind kind, String storeName, String outSink, String deadSink, long latenessUs, long idleUs,
                    long maxAheadUs) {
        this.kind = kind;
        this.storeName = storeName;
        this.outSink = outSink;
        this.deadSink = deadSink;
        this.latenessUs = latenessUs;
        this.idleUs = idleUs;
        this.maxAheadUs = maxAheadUs;
    }

    @Override
    public void init(ProcessorContext<byte[], byte[]> context) {
        this.context = context;
        this.store = context.getStateStore(storeName);
        this.partition = context.taskId().partition();
        closedThrough = readLong(CLOSED);
        maxEvent = readLong(MAX_EVENT);
        try (KeyValueIterator<String, byte[]> all = store.all()) {
            while (all.hasNext()) {
                KeyValue<String, byte[]> kv = all.next();
                if (!kv.key.startsWith("#")) {
                    openEnds.put(kv.key, startOf(kv.key) + WINDOW_US);
                }
            }
        }
        Stats.OPEN_WINDOWS.addAndGet(openEnds.size());
        if (!openEnds.isEmpty()) {  // restored windows: let the idle rule close them if no input comes
            arrivals().put(partition, nowUs());
        }
        context.schedule(Duration.ofMillis(100), PunctuationType.WALL_CLOCK_TIME, t -> closeIdle(nowUs()));
    }

    @Override
    public void close() {
        Stats.OPEN_WINDOWS.addAndGet(-openEnds.size());
        arrivals().remove(partition);
    }

    @Override
    public void process(Record<byte[], byte[]> record) {
        Stats.CONSUMED.incrementAndGet();
        arrivals().put(partition, nowUs());
        String where = "topic " + context.recordMetadata().map(RecordMetadata::topic).orElse("?");
        Kind.Parsed p;
        Kind.Agg agg;
        String key;
        try {
            p = kind.parse(Wire.decode(record.value(), record.headers(), kind.inputType(), where));
            if (record.timestamp() > 0 && p.eventTsUs() - record.timestamp() * 1000 > maxAheadUs) {
                throw new Wire.Invalid("event time " + p.eventTsUs() + " us is more than " + maxAheadUs / 1e6
                        + " s ahead of the record's Kafka timestamp (" + record.timestamp() + " ms)");
            }
            long start = p.eventTsUs() - p.eventTsUs() % WINDOW_US;
            if (start + WINDOW_US <= closedThrough) {
                Stats.LATE.incrementAndGet();
                dead(record, "late: event time " + p.eventTsUs() + " us is in window [" + start + ", "
                        + (start + WINDOW_US) + ") of " + p.symbol() + ", closed at watermark " + closedThrough + " us");
                return;
            }
            key = p.symbol() + "\u0000" + start;
            byte[] stored = store.get(key);
            agg = stored == null ? kind.fresh() : kind.read(ByteBuffer.wrap(stored));
            agg.add(p);
            if (stored == null) {
                openEnds.put(key, start + WINDOW_US);
                Stats.OPEN_WINDOWS.incrementAndGet();
            }
        } catch (Wire.Invalid e) {
            dead(record, e.getMessage());
            return;
        }
        store.put(key, agg.bytes());
        (kind == Kind.TRADES ? Stats.TRADES : Stats.BOOKS).incrementAndGet();
        if (p.eventTsUs() > maxEvent) {
            maxEvent = p.eventTsUs();
            store.put(MAX_EVENT, longBytes(maxEvent));
            closeThrough(maxEvent - latenessUs);
        }
    }

    /** The idle rule: after idle_timeout without input anywhere on this input, time moves on. */
    private void closeIdle(long now) {
        Long last = arrivals().get(partition);
        if (maxEvent == NEVER || last == null || openEnds.isEmpty()) {
            return;
        }
        for (long other : arrivals().values()) {
            if (now - other < idleUs) {
                return;
            }
        }
        closeThrough(Math.max(maxEvent - latenessUs + Math.max(0, now - last - idleUs), closedThrough));
    }

    /** Close (emit and forget) every window whose end the watermark `mark` reached, by (end, symbol). */
    private void closeThrough(long mark) {
        if (mark <= closedThrough) {
            return;
        }
        closedThrough = mark;
        store.put(CLOSED, longBytes(closedThrough));
        List<String> due = new ArrayList<>();
        openEnds.forEach((key, end) -> {
            if (end <= mark) {
                due.add(key);
            }
        });
        due.sort(Comparator.comparing((String k) -> openEnds.get(k)).thenComparing(WindowProcessor::symbolOf));
        long produced = nowUs();
        for (String key : due) {
            long start = startOf(key);
            Kind.Agg agg = kind.read(ByteBuffer.wrap(store.get(key)));
            try {
                byte[] value = agg.result(symbolOf(key), start, start + WINDOW_US, produced);
                context.forward(new Record<>(symbolOf(key).getBytes(StandardCharsets.UTF_8), value,
                        produced / 1000, Wire.headers(kind.outputType())), outSink);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            store.delete(key);
            openEnds.remove(key);
            Stats.OPEN_WINDOWS.decrementAndGet();
            (kind == Kind.TRADES ? Stats.CANDLES : Stats.BOOK_FEATURES).incrementAndGet();
        }
    }

    /** The original record to dead-letters with the dlq.* headers of kafkalab.transports.kafka.deadletters. */
    private void dead(Record<byte[], byte[]> record, String reason) {
        Stats.DEAD_LETTERS.incrementAndGet();
        RecordHeaders h = new RecordHeaders(record.headers().toArray());
        String line = String.join(" ", reason.trim().split("\\s+"));
        h.add("dlq.reason", (line.length() > 500 ? line.substring(0, 497) + "..." : line).getBytes(StandardCharsets.UTF_8));
        h.add("dlq.component", "processor".getBytes(StandardCharsets.UTF_8));
        RecordMetadata m = context.recordMetadata().orElseThrow();
        // as kafkalab.transports.kafka.deadletters logs each one: the run's log says why
        System.err.println("WARN dead letter from processor " + m.topic() + "[" + m.partition() + "]@" + m.offset()
                + ": " + line);
        h.add("dlq.topic", m.topic().getBytes(StandardCharsets.UTF_8));
        h.add("dlq.partition", String.valueOf(m.partition()).getBytes(StandardCharsets.UTF_8));
        h.add("dlq.offset", String.valueOf(m.offset()).getBytes(StandardCharsets.UTF_8));
        context.forward(new Record<>(record.key(), record.value(), record.timestamp(), h), deadSink);
    }

    private Map<Integer, Long> arrivals() {
        return ARRIVALS.computeIfAbsent(kind.inputType(), k -> new ConcurrentHashMap<>());
    }

    private long readLong(String key) {
        byte[] b = store.get(key);
        return b == null ? NEVER : ByteBuffer.wrap(b).getLong();
    }

    private static byte[] longBytes(long v) {
        return ByteBuffer.allocate(8).putLong(v).array();
    }

    private static String symbolOf(String key) {
        return key.substring(0, key.indexOf('\u0000'));
    }

    private static long startOf(String key) {
        return Long.parseLong(key.substring(key.indexOf('\u0000') + 1));
    }

    private static long nowUs() {
        return System.currentTimeMillis() * 1000;
    }
}
