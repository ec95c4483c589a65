package org.imagenete.io;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** The ImageNet-1k class list in standard index order (bundled: index, wnid, short name, full name). */
public final class ImageNetClasses {
    public record ImageNetClass(int index, String wnid, String shortName, String fullName) {}

    private static volatile ImageNetClasses instance;

    private final List<ImageNetClass> classes;
    private final Map<String, ImageNetClass> byWnid = new HashMap<>();

    private ImageNetClasses(List<ImageNetClass> classes) {
        this.classes = Collections.unmodifiableList(classes);
        for (ImageNetClass c : classes) byWnid.put(c.wnid(), c);
    }

    public static ImageNetClasses get() {
        if (instance == null) {
            synchronized (ImageNetClasses.class) {
                if (instance == null) instance = load();
            }
        }
        return instance;
    }

    private static ImageNetClasses load() {
        try (InputStream in = ImageNetClasses.class.getResourceAsStream("imagenet1k.tsv");
             BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            List<ImageNetClass> out = new ArrayList<>();
            r.readLine(); // header
            for (String line; (line = r.readLine()) != null; ) {
                if (line.isBlank()) continue;
                String[] f = line.split("\t", -1);
                out.add(new ImageNetClass(Integer.parseInt(f[0]), f[1], f[2], f[3]));
            }
            if (out.size() != 1000) throw new IllegalStateException("bundled class list has " + out.size() + " rows");
            return new ImageNetClasses(out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public int size() { return classes.size(); }

    public ImageNetClass get(int index) { return classes.get(index); }

    /** The class of a WordNet id (n01440764), or null. */
    public ImageNetClass byWnid(String wnid) { return byWnid.get(wnid); }

    public List<ImageNetClass> all() { return classes; }
}
