using System.Text.RegularExpressions;

namespace Trainer.Host.Tests.Cli;

/// <summary>On any CPU a user sees the project's output only: no libtorch warning lines (NNPACK, oneDNN, autograd).</summary>
public sealed class NativeOutputTests : IDisposable
{
    private readonly SyntheticFashionMnist _data = new();
    private readonly string _work = Directory.CreateTempSubdirectory("trainer-native-").FullName;

    public void Dispose()
    {
        _data.Dispose();
        Directory.Delete(_work, recursive: true);
    }

    // libtorch's c10 logging: "[W1203 23:30:16.612591394 NNPACK.cpp:56] ..." (W, E or I, then the date).
    private static readonly Regex NativeLine = new(@"^\[[WEI]\d{4} |NNPACK|TensorBody\.h", RegexOptions.Multiline);

    [Fact]
    public void Every_verb_of_a_pipeline_and_an_analysis_print_no_native_warning()
    {
        string[] common =
        [
            $"--Data:Path={_data.Directory}", $"--Trainer:LogDir={_work}/runs", $"--Trainer:CheckpointDir={_work}/ckpt", "--Trainer:RunName=r",
            "--Trainer:BatchSize=32", "--Trainer:EvalBatchSize=64", "--Trainer:Epochs=1", $"--Compression:PluginsDir={CompressVerbTests.PluginsBin}",
        ];
        var (code, output, error) = HostProcess.Run(_work, null,
        [
            "run", .. common, "--Pipeline:Stages:0=train", "--Pipeline:Stages:1=compress", "--Pipeline:Stages:2=export",
            "--Pipeline:Stages:3=quantize", "--Compression:Plugins:0=ChannelPruning", "--Compression:Plugins:1=Quantizers",
            "--Compression:Compressor=channel-pruning", "--Compression:Settings:method=l1", "--Compression:FinetuneEpochs=0",
            "--Quantization:Quantizer=observer", "--Quantization:Settings:calibration_batches=2",
        ]);
        Assert.True(code == 0, error + output);
        Assert.DoesNotMatch(NativeLine, error);
        Assert.DoesNotMatch(NativeLine, output);
        Assert.Contains("convolutions: ", output);                      // the kernels in use are reported once

        (code, output, error) = HostProcess.Run(_work, null, ["analyze", "flops", .. common]);
        Assert.True(code == 0, error + output);
        Assert.DoesNotMatch(NativeLine, error + output);
    }
}
