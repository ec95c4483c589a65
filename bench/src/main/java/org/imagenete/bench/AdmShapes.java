package org.imagenete.bench;

/** Parsing of benchmark shape parameters ("AxBxC...": JMH splits command-line values at commas). */
final class AdmShapes {
    private AdmShapes() {}

    static int[] parse(String s) {
        String[] p = s.split("[x,]");
        int[] out = new int[p.length];
        for (int i = 0; i < p.length; i++) out[i] = Integer.parseInt(p[i].trim());
        return out;
    }
}
