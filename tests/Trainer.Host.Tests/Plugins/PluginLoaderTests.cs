using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.Loader;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using TorchSharp.Modules;
using Trainer.Abstractions.Compression;
using Trainer.Core.Compression;
using Trainer.Host.Cli;
using Trainer.Host.Options;
using Trainer.Host.Plugins;

namespace Trainer.Host.Tests.Plugins;

public class PluginLoaderTests : IDisposable
{
    /// <summary>Where the CustomCompressor example's build puts its output (the test project builds it first).</summary>
    private static readonly string PluginsBin = typeof(PluginLoaderTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "PluginsBin").Value!;

    private readonly string _work = Path.Combine(Path.GetTempPath(), "trainer-plugins-" + Guid.NewGuid().ToString("N"));

    public PluginLoaderTests() => Directory.CreateDirectory(_work);

    public void Dispose()
    {
        // Loaded plugin files stay mapped on some systems; a leftover temp folder is not a failure.
        try { Directory.Delete(_work, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static PluginLoader NewLoader() =>
        new(Microsoft.Extensions.Options.Options.Create(new CompressionOptions { Plugins = [] }), NullLogger<PluginLoader>.Instance);

    private static PluginLoadException LoadFails(string name, string dir) =>
        Assert.Throws<PluginLoadException>(() => NewLoader().Load(name, dir));

    /// <summary>A folder <c>_work/name</c> with a copy of the example plugin's build output in it, renamed to <paramref name="name"/>.</summary>
    private string CopyExamplePlugin(string name)
    {
        var folder = Directory.CreateDirectory(Path.Combine(_work, name)).FullName;
        File.Copy(Path.Combine(PluginsBin, "CustomCompressor", "CustomCompressor.dll"), Path.Combine(folder, name + ".dll"));
        return folder;
    }

    [Fact]
    public void The_example_plugin_loads_in_its_own_context_and_rounds_real_weights_of_a_host_model()
    {
        var loader = NewLoader();
        var plugin = loader.Load("CustomCompressor", PluginsBin);

        Assert.Equal(Path.GetFullPath(Path.Combine(PluginsBin, "CustomCompressor", "CustomCompressor.dll")), plugin.Path);
        Assert.NotSame(AssemblyLoadContext.Default, AssemblyLoadContext.GetLoadContext(plugin.Assembly));
        Assert.Equal(ContractVersion.Major, PluginLoader.ContractMajorOf(plugin.Assembly));
        var compressor = Assert.Single(loader.Compressors);
        Assert.Equal("weight-rounding", compressor.Name);
        Assert.Same(compressor, loader.GetCompressor("weight-rounding"));
        // The plugin ships only its own assembly: the host's TorchSharp and Abstractions are the ones it runs on.
        Assert.Equal(["CustomCompressor.deps.json", "CustomCompressor.dll", "CustomCompressor.pdb", "CustomCompressor.xml"],
            Directory.GetFiles(Path.GetDirectoryName(plugin.Path)!).Select(Path.GetFileName).Order());

        // A host-built model crosses the boundary; the plugin's `is Linear` / `is Conv2d` must recognise its layers.
        var conv = torch.nn.Conv2d(1, 1, 1);
        var fc = torch.nn.Linear(3, 2);
        var model = torch.nn.Sequential(("conv", conv), ("flatten", torch.nn.Flatten()), ("fc", fc));
        using (torch.no_grad())
        {
            conv.weight!.copy_(torch.tensor(new[] { 0.777f }).reshape(1, 1, 1, 1));
            fc.weight!.copy_(torch.tensor(new[] { 0.123f, 0.456f, 0.789f, 1.0f, -0.04f, 0.31f }).reshape(2, 3));
            fc.bias!.copy_(torch.tensor(new[] { 0.123f, 0.456f }));
        }

        var result = compressor.Compress(new CompressionRequest
        {
            Model = model,
            ExampleInputShape = [1, 1, 3, 1],
            TargetFlopsRatio = 0.5,
            Settings = new Dictionary<string, string> { ["Decimals"] = "1" },
            Editor = new ModelEditor(model, [1, 1, 3, 1]),
            Logger = NullLogger.Instance,
        });

        Assert.Same(model, result.Model);
        var weights = fc.weight!.data<float>().ToArray();
        Assert.Equal([0.1f, 0.5f, 0.8f, 1.0f, 0.0f, 0.3f], weights.Select(w => MathF.Round(w, 5) + 0f));
        Assert.Equal(0.8f, conv.weight!.data<float>()[0], 5);
        Assert.Equal([0.123f, 0.456f], fc.bias!.data<float>().ToArray()); // biases are left alone
        Assert.Equal(
            [new LayerNote("conv", "Conv2d: 1 of 1 weights changed by rounding to 1 decimals"),
             new LayerNote("fc", "Linear: 5 of 6 weights changed by rounding to 1 decimals")],
            result.Layers);
        Assert.StartsWith("Rounded the weights of 2 Linear/Conv layers to 1 decimals: 6 of 7 weights changed.", result.Summary);

        var bad = Assert.Throws<ArgumentException>(() => compressor.Compress(new CompressionRequest
        {
            Model = model, ExampleInputShape = [1, 3], Settings = new Dictionary<string, string> { ["Decimals"] = "x" },
            Editor = new ModelEditor(model, [1, 1, 3, 1]),
        }));
        Assert.Equal("weight-rounding: setting Decimals = 'x' is invalid; accepted: an integer in [0, 8].", bad.Message);
    }

    [Fact]
    public void The_Pruners_plugin_runs_on_the_hosts_Trainer_Core_and_ships_no_copy_of_it()
    {
        var loader = NewLoader();
        var plugin = loader.Load("Pruners", PluginsBin);
        Assert.DoesNotContain("Trainer.Core.dll", Directory.GetFiles(Path.GetDirectoryName(plugin.Path)!).Select(Path.GetFileName));
        Assert.Contains(plugin.Assembly.GetReferencedAssemblies(), a => a.Name == "Trainer.Core");
        // NNI's eight criteria and ADMM.
        Assert.Equal(["admm", "apoz", "fpgm", "l1-norm", "l2-norm", "level", "mean-activation", "slim", "taylor-fo"],
            loader.Compressors.Select(c => c.Name).Order(StringComparer.Ordinal));

        // Level's ranking comes from the host's Trainer.Core: half of the 4 weights, the two smallest, become zero.
        var fc = torch.nn.Linear(2, 2, hasBias: false);
        using (torch.no_grad()) fc.weight!.copy_(torch.tensor(new[] { 0.4f, -0.1f, 0.3f, 0.2f }).reshape(2, 2));
        var model = torch.nn.Sequential(("fc", fc));
        loader.GetCompressor("level").Compress(new CompressionRequest
        {
            Model = model, ExampleInputShape = [1, 2], TargetFlopsRatio = 0.5, Editor = new ModelEditor(model, [1, 2]), Logger = NullLogger.Instance,
            Settings = new Dictionary<string, string> { ["config_list"] = "[{\"op_types\": [\"Linear\"], \"sparsity_per_layer\": 0.5}]" },
        });
        Assert.Equal([0.4f, 0f, 0.3f, 0f], fc.weight!.data<float>().ToArray());
    }

    [Fact]
    public void A_missing_file_names_the_file_and_where_it_looked()
    {
        var e = LoadFails("Missing", _work);
        Assert.Equal("Missing.dll", e.FileName);
        var expected = Path.Combine(_work, "Missing", "Missing.dll");
        Assert.StartsWith($"file not found; looked for {expected} (Compression:PluginsDir = '{_work}').", e.Reason);
        Assert.StartsWith("plugin Missing.dll: file not found", e.Message);
    }

    [Fact]
    public void A_text_file_named_dll_is_not_loadable()
    {
        var folder = Directory.CreateDirectory(Path.Combine(_work, "NotAnAssembly")).FullName;
        File.WriteAllText(Path.Combine(folder, "NotAnAssembly.dll"), "this is not an assembly");
        var e = LoadFails("NotAnAssembly", _work);
        Assert.Equal("NotAnAssembly.dll", e.FileName);
        Assert.StartsWith($"not a loadable .NET assembly ({Path.Combine(folder, "NotAnAssembly.dll")}): ", e.Reason);
    }

    [Fact]
    public void A_valid_assembly_without_a_compressor_is_refused()
    {
        var folder = Directory.CreateDirectory(Path.Combine(_work, "NoCompressor")).FullName;
        File.Copy(typeof(Assert).Assembly.Location, Path.Combine(folder, "NoCompressor.dll")); // xunit.assert: a real library
        var e = LoadFails("NoCompressor", _work);
        Assert.Equal("NoCompressor.dll", e.FileName);
        Assert.Equal("no ICompressor: the assembly has no public non-abstract class implementing " +
                     "Trainer.Abstractions.Compression.ICompressor (or Trainer.Abstractions.Quantization.IQuantizer) with a public parameterless constructor.", e.Reason);
    }

    [Theory]
    [InlineData("TorchSharp.dll")]
    [InlineData("Trainer.Abstractions.dll")]
    [InlineData("Trainer.Core.dll")]
    public void A_plugin_that_bundles_a_shared_assembly_is_refused_with_the_fix(string bundled)
    {
        var folder = CopyExamplePlugin("Bundling");
        var source = bundled switch
        {
            "TorchSharp.dll" => typeof(torch).Assembly.Location,
            "Trainer.Core.dll" => typeof(ModelEditor).Assembly.Location,
            _ => typeof(ICompressor).Assembly.Location,
        };
        File.Copy(source, Path.Combine(folder, bundled));
        var e = LoadFails("Bundling", _work);
        Assert.Equal("Bundling.dll", e.FileName);
        Assert.StartsWith($"its folder {folder} holds its own {bundled}; the host provides these", e.Reason);
        Assert.Contains("<Private>false</Private>", e.Reason);
        Assert.Contains("ExcludeAssets=\"runtime\"", e.Reason);
    }

    [Fact]
    public void A_plugin_built_against_another_contract_major_is_refused()
    {
        EmitPlugin("FutureContract", contractMajor: ContractVersion.Major + 1);
        var e = LoadFails("FutureContract", _work);
        Assert.Equal("FutureContract.dll", e.FileName);
        Assert.StartsWith($"built against plugin contract major version {ContractVersion.Major + 1}, " +
                          $"but this host implements major version {ContractVersion.Major}; ", e.Reason);
    }

    [Fact]
    public void A_plugin_without_the_TrainerPlugin_attribute_is_refused()
    {
        EmitPlugin("Unmarked", contractMajor: null);
        var e = LoadFails("Unmarked", _work);
        Assert.Equal("Unmarked.dll", e.FileName);
        Assert.StartsWith("no [assembly: TrainerPlugin(ContractMajor = ...)] attribute", e.Reason);
    }

    [Fact]
    public void An_emitted_plugin_of_the_current_contract_loads()
    {
        EmitPlugin("Emitted", contractMajor: ContractVersion.Major);
        var compressor = Assert.Single(NewLoader().Load("Emitted", _work).Compressors);
        Assert.Equal("emitted", compressor.Name);
    }

    [Fact]
    public void The_contract_check_accepts_only_the_hosts_major()
    {
        Assert.Null(PluginLoader.ContractError(ContractVersion.Major));
        Assert.NotNull(PluginLoader.ContractError(ContractVersion.Major - 1));
        Assert.NotNull(PluginLoader.ContractError(null));
    }

    [Fact]
    public void Two_plugins_with_the_same_compressor_name_are_refused()
    {
        CopyExamplePlugin("Twin");
        var loader = NewLoader();
        loader.Load("CustomCompressor", PluginsBin);
        var e = Assert.Throws<PluginLoadException>(() => loader.Load("Twin", _work));
        Assert.Equal("Twin.dll", e.FileName);
        Assert.Equal("compressor name 'weight-rounding' is already taken by plugin CustomCompressor; compressor names must be unique.", e.Reason);
    }

    [Fact]
    public void The_cli_stops_before_any_work_with_exit_code_2_when_a_plugin_fails()
    {
        var error = new StringWriter();
        var code = TrainerCli.Run(
            ["train", $"--Trainer:LogDir={_work}/runs", $"--Trainer:CheckpointDir={_work}/ckpt", "--Data:Path=/nonexistent",
             $"--Compression:PluginsDir={_work}", "--Compression:Plugins:0=Missing"],
            new StringWriter(), error);
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.StartsWith($"error: plugin Missing.dll: file not found; looked for {Path.Combine(_work, "Missing", "Missing.dll")}", error.ToString());
        Assert.False(Directory.Exists(Path.Combine(_work, "runs")));
    }

    [Fact]
    public void The_cli_loads_the_configured_example_plugin_then_runs_the_job()
    {
        var error = new StringWriter();
        var code = TrainerCli.Run(
            ["train", $"--Trainer:LogDir={_work}/runs", $"--Trainer:CheckpointDir={_work}/ckpt", $"--Data:Path={_work}/no-data",
             $"--Compression:PluginsDir={PluginsBin}", "--Compression:Plugins:0=CustomCompressor"],
            new StringWriter(), error);
        // The plugin loaded, so the job started and failed on its data, not on the plugin.
        Assert.Equal(TrainerCli.JobFailed, code);
        Assert.StartsWith($"error: Fashion-MNIST folder '{_work}/no-data' does not exist.", error.ToString());
    }

    [Fact]
    public void The_cli_validates_the_Compression_section_before_loading_plugins()
    {
        var error = new StringWriter();
        var code = TrainerCli.Run(["train", $"--Compression:PluginsDir={PluginsBin}", "--Compression:Plugins:0=../x", "--Compression:Plugins:1=A", "--Compression:Plugins:2=a"],
            new StringWriter(), error);
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains("error: Compression:Plugins:0 = '../x' is invalid", error.ToString());
        Assert.Contains("error: Compression:Plugins names 'A' 2 times", error.ToString());
    }

    /// <summary>
    /// Writes <c>_work/name/name.dll</c>: an assembly with one public compressor class ("emitted") and, when
    /// <paramref name="contractMajor"/> is set, <c>[assembly: TrainerPlugin(ContractMajor = contractMajor)]</c>.
    /// </summary>
    private void EmitPlugin(string name, int? contractMajor)
    {
        var assembly = new PersistedAssemblyBuilder(new AssemblyName(name), typeof(object).Assembly);
        if (contractMajor is { } major)
            assembly.SetCustomAttribute(new CustomAttributeBuilder(typeof(TrainerPluginAttribute).GetConstructor(Type.EmptyTypes)!, [],
                [typeof(TrainerPluginAttribute).GetProperty(nameof(TrainerPluginAttribute.ContractMajor))!], [major]));
        var type = assembly.DefineDynamicModule(name).DefineType("Emitted.Compressor", TypeAttributes.Public | TypeAttributes.Sealed | TypeAttributes.Class);
        type.AddInterfaceImplementation(typeof(ICompressor));
        const MethodAttributes implementation = MethodAttributes.Public | MethodAttributes.Virtual | MethodAttributes.Final |
                                                MethodAttributes.NewSlot | MethodAttributes.HideBySig;

        var getName = type.DefineMethod("get_Name", implementation | MethodAttributes.SpecialName, typeof(string), Type.EmptyTypes);
        var il = getName.GetILGenerator();
        il.Emit(OpCodes.Ldstr, "emitted");
        il.Emit(OpCodes.Ret);
        type.DefineProperty("Name", PropertyAttributes.None, typeof(string), null).SetGetMethod(getName);
        type.DefineMethodOverride(getName, typeof(ICompressor).GetProperty(nameof(ICompressor.Name))!.GetMethod!);

        var compress = type.DefineMethod("Compress", implementation, typeof(CompressionResult), [typeof(CompressionRequest)]);
        il = compress.GetILGenerator();
        il.Emit(OpCodes.Ldnull);
        il.Emit(OpCodes.Ret);
        type.DefineMethodOverride(compress, typeof(ICompressor).GetMethod(nameof(ICompressor.Compress))!);

        type.DefineDefaultConstructor(MethodAttributes.Public);
        type.CreateType();
        var folder = Directory.CreateDirectory(Path.Combine(_work, name)).FullName;
        assembly.Save(Path.Combine(folder, name + ".dll"));
    }
}
