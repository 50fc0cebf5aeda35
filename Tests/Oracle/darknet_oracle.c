/* darkscope's test oracle: runs Debian's libdarknet and dumps what darkscope must match.
 *
 *   darknet_oracle layers CFG WEIGHTS INPUT.f32 OUT   every layer's output for one raw CHW input
 *   darknet_oracle image PATH WIDTH HEIGHT OUT        load_image_color, then letterbox_image
 *                                                     unless WIDTH or HEIGHT is 0
 *
 * OUT holds little-endian int32 counts each followed by that many float32 values:
 * one record per layer for `layers`; width, height, channels then the pixels for `image`.
 * Built by the tests at run time; Darknet prints its layer table on stderr while parsing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <darknet.h>

static void write_record(FILE *out, const float *values, int count) {
    fwrite(&count, sizeof count, 1, out);
    fwrite(values, sizeof(float), (size_t)count, out);
}

static int dump_layers(char *cfg, char *weights, const char *input_path, const char *out_path) {
    network *net = load_network(cfg, weights, 0);
    set_batch_network(net, 1);
    size_t inputs = (size_t)net->inputs;
    float *input = malloc(inputs * sizeof(float));
    FILE *in = fopen(input_path, "rb");
    if (!in || fread(input, sizeof(float), inputs, in) != inputs) {
        fprintf(stderr, "darknet_oracle: %s must hold %zu floats\n", input_path, inputs);
        return 2;
    }
    fclose(in);
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

static int dump_image(char *path, int width, int height, const char *out_path) {
    image im = load_image_color(path, 0, 0);
    if (width && height) im = letterbox_image(im, width, height);
    FILE *out = fopen(out_path, "wb");
    if (!out) { perror(out_path); return 2; }
    int header[3] = { im.w, im.h, im.c };
    fwrite(header, sizeof header, 1, out);
    fwrite(im.data, sizeof(float), (size_t)im.w * im.h * im.c, out);
    fclose(out);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 6 && !strcmp(argv[1], "layers")) return dump_layers(argv[2], argv[3], argv[4], argv[5]);
    if (argc == 6 && !strcmp(argv[1], "image")) return dump_image(argv[2], atoi(argv[3]), atoi(argv[4]), argv[5]);
    fprintf(stderr, "usage: darknet_oracle layers CFG WEIGHTS INPUT.f32 OUT | image PATH WIDTH HEIGHT OUT\n");
    return 2;
}
