/* Darknet's side of bench/run: Debian's libdarknet through its C API.
 *
 *   darknet_bench time CFG WEIGHTS INPUT.f32 WARMUP RUNS OUTPUT.f32 [LAYER]
 *       load_network + set_batch_network(1), then WARMUP untimed and RUNS timed calls of
 *       network_predict on one raw CHW float32 image; prints one JSON object (times in ms)
 *       and writes the output layer's values (the probabilities) as raw float32, or those
 *       of layer LAYER (0-based; e.g. the logits before a softmax).
 *   darknet_bench train CFG WEIGHTS INPUT.f32 WARMUP RUNS
 *       load_network (seen cleared), then WARMUP untimed and RUNS timed calls of
 *       train_network on one batch (the cfg's batch) of copies of the image, labels
 *       0, 1, ...: forward, backward and update; prints one JSON object (times in ms).
 *   darknet_bench input IMAGE WIDTH HEIGHT OUTPUT.f32
 *       load_image_color then letterbox_image, written as raw CHW float32: the one
 *       preprocessed input every engine of the benchmark reads.
 *
 * Only network_predict (train_network) is timed: no loading, no image decoding. Darknet runs on one thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <darknet.h>

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int write_floats(const char *path, const float *values, size_t count) {
    FILE *out = fopen(path, "wb");
    if (!out || fwrite(values, sizeof(float), count, out) != count) { perror(path); return 2; }
    fclose(out);
    return 0;
}

/* Exactly COUNT floats from PATH, or NULL after saying why. */
static float *read_input(const char *path, size_t count) {
    float *input = malloc(count * sizeof(float));
    FILE *in = fopen(path, "rb");
    if (!in || fread(input, sizeof(float), count, in) != count || fgetc(in) != EOF) {
        fprintf(stderr, "darknet_bench: %s must hold exactly %zu floats\n", path, count);
        return NULL;
    }
    fclose(in);
    return input;
}

static int time_network(char *cfg, char *weights, const char *input_path, int warmup, int runs, const char *out_path,
                        int layer) {
    network *net = load_network(cfg, weights, 0);
    set_batch_network(net, 1);
    float *input = read_input(input_path, (size_t)net->inputs);
    if (!input) return 2;
    for (int i = 0; i < warmup; ++i) network_predict(net, input);
    double *times = malloc((size_t)runs * sizeof(double));
    float *output = 0;
    for (int i = 0; i < runs; ++i) {
        double start = now_ms();
        output = network_predict(net, input);
        times[i] = now_ms() - start;
    }
    if (layer >= net->n) { fprintf(stderr, "darknet_bench: the network has layers 0...%d\n", net->n - 1); return 2; }
    int status = layer >= 0 ? write_floats(out_path, net->layers[layer].output, (size_t)net->layers[layer].outputs)
                            : write_floats(out_path, output, (size_t)net->outputs);
    if (status) return status;
    printf("{\"engine\": \"darknet\", \"threads\": 1, \"times_ms\": [");
    for (int i = 0; i < runs; ++i) printf("%s%.4f", i ? ", " : "", times[i]);
    printf("]}\n");
    return 0;
}

static int time_training(char *cfg, char *weights, const char *input_path, int warmup, int runs) {
    network *net = load_network(cfg, weights, 1);
    size_t inputs = (size_t)net->inputs;
    float *input = read_input(input_path, inputs);
    if (!input) return 2;
    int batch = net->batch * net->subdivisions;
    data d = {0};
    d.X = make_matrix(batch, (int)inputs);
    d.y = make_matrix(batch, net->outputs);
    for (int i = 0; i < batch; ++i) {
        memcpy(d.X.vals[i], input, inputs * sizeof(float));
        d.y.vals[i][i % net->outputs] = 1;
    }
    for (int i = 0; i < warmup; ++i) train_network(net, d);
    printf("{\"engine\": \"darknet\", \"threads\": 1, \"batch\": %d, \"times_ms\": [", batch);
    for (int i = 0; i < runs; ++i) {
        double start = now_ms();
        train_network(net, d);
        printf("%s%.4f", i ? ", " : "", now_ms() - start);
    }
    printf("]}\n");
    return 0;
}

static int write_input(char *path, int width, int height, const char *out_path) {
    image im = letterbox_image(load_image_color(path, 0, 0), width, height);
    return write_floats(out_path, im.data, (size_t)im.w * im.h * im.c);
}

int main(int argc, char **argv) {
    if ((argc == 8 || argc == 9) && !strcmp(argv[1], "time"))
        return time_network(argv[2], argv[3], argv[4], atoi(argv[5]), atoi(argv[6]), argv[7], argc == 9 ? atoi(argv[8]) : -1);
    if (argc == 7 && !strcmp(argv[1], "train")) return time_training(argv[2], argv[3], argv[4], atoi(argv[5]), atoi(argv[6]));
    if (argc == 6 && !strcmp(argv[1], "input")) return write_input(argv[2], atoi(argv[3]), atoi(argv[4]), argv[5]);
    fprintf(stderr, "usage: darknet_bench time CFG WEIGHTS INPUT.f32 WARMUP RUNS OUTPUT.f32 [LAYER]\n"
                    "       darknet_bench train CFG WEIGHTS INPUT.f32 WARMUP RUNS\n"
                    "       darknet_bench input IMAGE WIDTH HEIGHT OUTPUT.f32\n");
    return 2;
}
