package kafkalab.streams;

import java.util.concurrent.atomic.AtomicLong;

/** Counters of this instance, printed as one STATUS line a second (the Python wrapper reads them). */
final class Stats {
    static final AtomicLong CONSUMED = new AtomicLong();
    static final AtomicLong TRADES = new AtomicLong();
    static final AtomicLong BOOKS = new AtomicLong();
    static final AtomicLong CANDLES = new AtomicLong();
    static final AtomicLong BOOK_FEATURES = new AtomicLong();
    static final AtomicLong LATE = new AtomicLong();
    static final AtomicLong DEAD_LETTERS = new AtomicLong();
    static final AtomicLong OPEN_WINDOWS = new AtomicLong();

    private Stats() {}

    static String line(String state) {
        return "STATUS state=" + state + " consumed=" + CONSUMED.get() + " trades=" + TRADES.get()
                + " books=" + BOOKS.get() + " candles=" + CANDLES.get() + " book_features=" + BOOK_FEATURES.get()
                + " late=" + LATE.get() + " dead_letters=" + DEAD_LETTERS.get() + " open_windows=" + OPEN_WINDOWS.get();
    }
}
