/* darkscope's test oracle: runs Debian's libdarknet and dumps what darkscope must match.
 *
 *   darknet_oracle layers CFG WEIGHTS INPUT.f32 OUT   every layer's output for one raw CHW input
 *   darknet_oracle image PATH WIDTH HEIGHT OUT        load_image_color, then letterbox_image
 *                                                     unless WIDTH or HEIGHT is 0
 *   darknet_oracle rotate PATH RADIANS OUT            load_image_color, then rotate_image
 *   darknet_oracle rotatecrop PATH RADIANS SCALE SIZE DX DY ASPECT OUT
 *                                                     load_image_color, then rotate_crop_image to
 *                                                     SIZE x SIZE
 *   darknet_oracle gradient CFG WEIGHTS INPUT.f32 LAYER SEED.f32 OUT
 *                                                     the forward pass, then every layer's delta and the
 *                                                     input's from SEED as layer LAYER's delta
 *   darknet_oracle train CFG WEIGHTS IMAGES.f32 LABELS.i32 OUT.weights SEED
 *                                                     train_network over the images (CHW, one after
 *                                                     another, a multiple of the cfg's batch) with
 *                                                     one-hot truths from the int32 labels; saves the
 *                                                     weights and prints the loss train_network returns;
 *                                                     srand(SEED) first, for dropout's draws
 *
 * OUT holds little-endian int32 counts each followed by that many float32 values:
 * one record per layer for `layers`; width, height, channels then the pixels for `image`,
 * `rotate` and `rotatecrop`;
 * the input's delta then one record per layer for `gradient`.
 * Built by the tests at run time; Darknet prints its layer table on stderr while parsing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <darknet.h>

static void write_record(FILE *out, const float *values, int count) {
    fwrite(&count, sizeof count, 1, out);
    fwrite(values, sizeof(float), (size_t)count, out);
}

/* COUNT floats from PATH, or NULL after saying why. */
static float *read_floats(const char *path, size_t count) {
    float *values = malloc(count * sizeof(float));
    FILE *in = fopen(path, "rb");
    if (!in || fread(values, sizeof(float), count, in) != count) {
        fprintf(stderr, "darknet_oracle: %s must hold %zu floats\n", path, count);
        return NULL;
    }
    fclose(in);
    return values;
}

static int dump_layers(char *cfg, char *weights, const char *input_path, const char *out_path) {
    network *net = load_network(cfg, weights, 0);
    set_batch_network(net, 1);
    float *input = read_floats(input_path, (size_t)net->inputs);
    if (!input) return 2;
    network_predict(net, input);
    FILE *out = fopen(out_path, "wb");
    if (!out) { perror(out_path); return 2; }
    for (int i = 0; i < net->n; ++i) {
        layer l = net->layers[i];
        /* A cost layer keeps no output at test time; record its input, as darkscope passes it through. */
        const float *values = l.type == COST ? net->layers[i - 1].output : l.output;
        write_record(out, values, l.outputs);
    }
    fclose(out);
    return 0;
}

/* backward_network is not the test-time gradient in three places, so this drives each layer's
 * own backward function itself, changing only these (GradientTests says what each leaves out):
 * - batch norm at test time is a fixed scale per channel; Darknet's backward_batchnorm_layer
 *   exists only for training's batch statistics, so the scale is folded into the weights
 *   (after the forward pass, which ran with batch norm) and batch_normalize turned off;
 * - each layer writes into a zeroed buffer then added to the previous layer's delta: a 1x1
 *   convolution's GEMM overwrites net.delta (beta 0), dropping what a route or shortcut added;
 * - dropout is the identity at test time (its delta is the previous layer's): its backward
 *   would drop cells by training's random draws. A crop, which has none, gets a delta to record. */
static int dump_gradients(char *cfg, char *weights, const char *input_path, int top, const char *seed_path,
                          const char *out_path) {
    network *net = load_network(cfg, weights, 0);
    set_batch_network(net, 1);
    if (top < 0 || top >= net->n) { fprintf(stderr, "darknet_oracle: no layer %d\n", top); return 2; }
    float *input = read_floats(input_path, (size_t)net->inputs);
    float *seed = read_floats(seed_path, (size_t)net->layers[top].outputs);
    if (!input || !seed) return 2;
    network_predict(net, input);
    size_t largest = (size_t)net->inputs;
    for (int i = 0; i < net->n; ++i) {
        layer *l = &net->layers[i];
        if ((size_t)l->outputs > largest) largest = (size_t)l->outputs;
        if (!l->delta) l->delta = calloc((size_t)l->outputs, sizeof(float));
        if (!l->batch_normalize || (l->type != CONVOLUTIONAL && l->type != CONNECTED)) continue;
        /* Filters by their inputs, or a connected layer's outputs by its inputs. */
        int rows = l->type == CONVOLUTIONAL ? l->n : l->outputs, row = l->type == CONVOLUTIONAL ? l->nweights / l->n : l->inputs;
        for (int f = 0; f < rows; ++f) {
            float slope = l->scales[f] / (sqrtf(l->rolling_variance[f]) + .000001f);
            for (int j = 0; j < row; ++j) l->weights[f * row + j] *= slope;
        }
        l->batch_normalize = 0;
    }
    memcpy(net->layers[top].delta, seed, (size_t)net->layers[top].outputs * sizeof(float));
    float *input_delta = calloc((size_t)net->inputs, sizeof(float));
    float *part = malloc(largest * sizeof(float));
    float **deltas = calloc((size_t)net->n, sizeof(float *));
    network state = *net;
    state.train = 0;
    for (int i = net->n - 1; i >= 0; --i) {
        layer l = net->layers[i];
        deltas[i] = malloc((size_t)l.outputs * sizeof(float));
        memcpy(deltas[i], l.delta, (size_t)l.outputs * sizeof(float));
        if (i > top || l.type == DROPOUT) continue;
        int inputs = i == 0 ? net->inputs : net->layers[i - 1].outputs;
        float *target = i == 0 ? input_delta : net->layers[i - 1].delta;
        memset(part, 0, (size_t)inputs * sizeof(float));
        state.index = i;
        state.input = i == 0 ? input : net->layers[i - 1].output;
        state.delta = part;
        l.backward(l, state);
        for (int j = 0; j < inputs; ++j) target[j] += part[j];
    }
    FILE *out = fopen(out_path, "wb");
    if (!out) { perror(out_path); return 2; }
    write_record(out, input_delta, net->inputs);
    for (int i = 0; i < net->n; ++i) write_record(out, deltas[i], net->layers[i].outputs);
    fclose(out);
    return 0;
}

static int train(char *cfg, char *weights, const char *images_path, const char *labels_path, char *out_path,
                 unsigned seed) {
    network *net = load_network(cfg, weights, 0);
    srand(seed);
    FILE *labels_file = fopen(labels_path, "rb");
    if (!labels_file) { perror(labels_path); return 2; }
    fseek(labels_file, 0, SEEK_END);
    const int count = (int)(ftell(labels_file) / (long)sizeof(int));
    rewind(labels_file);
    int *labels = malloc((size_t)count * sizeof(int));
    if (fread(labels, sizeof(int), (size_t)count, labels_file) != (size_t)count) return 2;
    fclose(labels_file);
    float *images = read_floats(images_path, (size_t)count * net->inputs);
    if (!images) return 2;
    data d = {0};
    d.X = make_matrix(count, net->inputs);
    d.y = make_matrix(count, net->outputs);
    for (int i = 0; i < count; ++i) {
        memcpy(d.X.vals[i], images + (size_t)i * net->inputs, (size_t)net->inputs * sizeof(float));
        d.y.vals[i][labels[i]] = 1;
    }
    float loss = train_network(net, d);
    printf("loss %.9g\nrate %.9g\nseen %zu\n", loss, get_current_rate(net), *net->seen);
    save_weights(net, out_path);
    return 0;
}

/* Exported by libdarknet, declared in Darknet's image.h rather than darknet.h. */
image rotate_crop_image(image im, float rad, float s, int w, int h, float dx, float dy, float aspect);

static int write_image(image im, const char *out_path) {
    FILE *out = fopen(out_path, "wb");
    if (!out) { perror(out_path); return 2; }
    int header[3] = { im.w, im.h, im.c };
    fwrite(header, sizeof header, 1, out);
    fwrite(im.data, sizeof(float), (size_t)im.w * im.h * im.c, out);
    fclose(out);
    return 0;
}

static int dump_image(char *path, int width, int height, const char *out_path) {
    image im = load_image_color(path, 0, 0);
    if (width && height) im = letterbox_image(im, width, height);
    return write_image(im, out_path);
}

int main(int argc, char **argv) {
    if (argc == 6 && !strcmp(argv[1], "layers")) return dump_layers(argv[2], argv[3], argv[4], argv[5]);
    if (argc == 6 && !strcmp(argv[1], "image")) return dump_image(argv[2], atoi(argv[3]), atoi(argv[4]), argv[5]);
    if (argc == 5 && !strcmp(argv[1], "rotate"))
        return write_image(rotate_image(load_image_color(argv[2], 0, 0), strtof(argv[3], NULL)), argv[4]);
    if (argc == 10 && !strcmp(argv[1], "rotatecrop")) {
        const int size = atoi(argv[5]);
        return write_image(rotate_crop_image(load_image_color(argv[2], 0, 0), strtof(argv[3], NULL), strtof(argv[4], NULL),
                                             size, size, strtof(argv[6], NULL), strtof(argv[7], NULL), strtof(argv[8], NULL)),
                           argv[9]);
    }
    if (argc == 8 && !strcmp(argv[1], "gradient"))
        return dump_gradients(argv[2], argv[3], argv[4], atoi(argv[5]), argv[6], argv[7]);
    if (argc == 8 && !strcmp(argv[1], "train"))
        return train(argv[2], argv[3], argv[4], argv[5], argv[6], (unsigned)strtoul(argv[7], NULL, 10));
    fprintf(stderr, "usage: darknet_oracle layers CFG WEIGHTS INPUT.f32 OUT | image PATH WIDTH HEIGHT OUT"
                    " | rotate PATH RADIANS OUT | rotatecrop PATH RADIANS SCALE SIZE DX DY ASPECT OUT"
                    " | gradient CFG WEIGHTS INPUT.f32 LAYER SEED.f32 OUT"
                    " | train CFG WEIGHTS IMAGES.f32 LABELS.i32 OUT.weights SEED\n");
    return 2;
}
