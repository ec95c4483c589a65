package org.imagenete.spark;

import org.apache.spark.SparkConf;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.resource.ResourceInformation;
import org.imagenete.cli.Main;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;

/**
 * Runs {@code imagenet-e generate} as Spark tasks: task i runs shard i of n ({@code --shard i/n}) in its executor
 * JVM, writing to the shared output folder (each shard its own manifest). The engine's native kernels and its
 * checkpoint mappings are per JVM, so an executor shares them across its tasks. With GPU scheduling
 * ({@code spark.executor.resource.gpu.amount=1}, {@code spark.task.resource.gpu.amount=1} and a discovery script),
 * each task gets one GPU, passed to the CUDA backend as {@code imagenete.cuda.device}.
 * <p>Usage: {@code spark-submit --class org.imagenete.spark.SparkGenerate imagenet-e-spark.jar --shards N [generate options]}
 */
public final class SparkGenerate {
    private SparkGenerate() {}

    public static void main(String[] args) {
        int shards = 0;
        List<String> rest = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--shards")) shards = Integer.parseInt(args[++i]);
            else rest.add(args[i]);
        }
        if (shards < 1) throw new IllegalArgumentException("--shards N is required");
        try (JavaSparkContext sc = new JavaSparkContext(new SparkConf().setAppName("imagenet-e generate"))) {
            for (String line : run(sc, rest, shards)) System.out.println(line);
        }
    }

    /** Runs the n shards as n tasks; returns one line per shard. Any shard's failure fails the job. */
    public static List<String> run(JavaSparkContext sc, List<String> generateArgs, int shards) {
        for (String a : generateArgs)
            if (a.startsWith("--shard")) throw new IllegalArgumentException("give --shards N to the adapter, not --shard");
        List<String> argsCopy = List.copyOf(generateArgs);
        List<Integer> idx = IntStream.range(0, shards).boxed().toList();
        return sc.parallelize(idx, shards).map(i -> shard(argsCopy, i, shards)).collect();
    }

    static String shard(List<String> args, int i, int n) {
        TaskContext tc = TaskContext.get();
        if (tc != null) {
            ResourceInformation gpu = tc.resources().get("gpu").getOrElse(() -> null);
            if (gpu != null && gpu.addresses().length > 0) System.setProperty("imagenete.cuda.device", gpu.addresses()[0]);
        }
        List<String> a = new ArrayList<>();
        a.add("generate");
        a.addAll(args);
        a.addAll(Arrays.asList("--shard", i + "/" + n, "--quiet"));
        long t0 = System.nanoTime();
        int rc = Main.run(a.toArray(String[]::new));
        // exit 3: the shard finished but some source images could not be used; rerunning the task cannot fix them
        if (rc != Main.EXIT_OK && rc != Main.EXIT_SOME_FAILED)
            throw new IllegalStateException("shard " + i + "/" + n + " failed (exit " + rc + ")");
        return String.format("shard %d/%d done in %.1f s%s", i, n, (System.nanoTime() - t0) / 1e9,
                rc == Main.EXIT_SOME_FAILED ? ", some images failed (see the executor's log)" : "");
    }
}
