// Owner of the shared precompiled <torch/torch.h>; every torch target reuses it.
#include <torch/torch.h>
